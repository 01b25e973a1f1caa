#include "notice.h"

#include <string.h>

#include "authz.h"
#include "err.h"
#include "feed_impl.h"
#include "log.h"
#include "server.h"
#include "session.h"

void sx_notice_action(struct sx_session *ss, uint64_t id, const Sprex__NoticeAction *m)
{
	struct sx_server *srv = ss->srv;
	const char *name = sx_action_name((int)m->action);
	if (!name) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID, "unknown action %d",
				 (int)m->action);
		return;
	}
	if (m->note && strlen(m->note) > SX_NOTICE_NOTE_MAX) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
				 "note longer than %u bytes", SX_NOTICE_NOTE_MAX);
		return;
	}
	if (!m->report_id || !sx_report_id_ok(m->report_id) ||
	    !sx_authz_may_act(&ss->member, 1)) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_FORBIDDEN,
				 "no notice of that report was sent to %s", ss->member.name);
		return;
	}
	/* The notice row may sit in the feed's open transaction; the action and
	 * its audit record then commit together. */
	sx_feed_flush(&srv->feed);
	int64_t now = sx_feed_now();
	int rc = sx_store_batch_begin(srv->store);
	if (rc == 0)
		rc = sx_store_notice_action(srv->store, m->report_id, ss->member.id,
					    (int)m->action, m->note ? m->note : "", now);
	if (rc == 0) {
		struct sx_audit_rec r;
		sx_session_audit_rec(ss, &r, "notice-action", "ok", "report=%s action=%s",
				     m->report_id, name);
		rc = sx_store_audit_append(srv->store, &r);
	}
	if (rc == 0)
		rc = sx_store_batch_commit(srv->store);
	if (rc < 0)
		sx_store_batch_rollback(srv->store);
	if (rc == SX_ENOTFOUND) {
		sx_log_warn("session %llu: member %s: action %s on report %s refused: never sent "
			    "to it", (unsigned long long)ss->id, ss->member.name, name, m->report_id);
		sx_session_audit(ss, "notice-action", "refused: never sent to this ISP",
				 "report=%s action=%s", m->report_id, name);
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_FORBIDDEN,
				 "no notice of report %s was sent to %s", m->report_id,
				 ss->member.name);
		return;
	}
	if (rc < 0) {
		sx_log_warn("session %llu: member %s: action on %s failed: %s",
			    (unsigned long long)ss->id, ss->member.name, m->report_id,
			    sx_store_errmsg(srv->store));
		sx_session_error(ss, id,
				 rc == SX_EBUSY ? SPREX__ERROR_CODE__ERROR_BUSY
				 : rc == SX_EINVAL ? SPREX__ERROR_CODE__ERROR_INVALID
						   : SPREX__ERROR_CODE__ERROR_INTERNAL,
				 "action not recorded: %s", sx_store_errmsg(srv->store));
		return;
	}
	Sprex__NoticeActionOk ok = SPREX__NOTICE_ACTION_OK__INIT;
	ok.report_id = m->report_id;
	ok.action = m->action;
	ok.recorded_ms = now;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = id;
	f.msg_case = SPREX__FRAME__MSG_NOTICE_ACTION_OK;
	f.notice_action_ok = &ok;
	sx_peer_send(ss->peer, &f);
	sx_log_info("session %llu: ISP %s: %s on report %s", (unsigned long long)ss->id,
		    ss->member.name, name, m->report_id);
}
