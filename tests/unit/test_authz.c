/*
 * test_authz.c: the policy module as a full matrix (DESIGN §1).
 *
 * sx_authz_may_receive is compared, for every combination of role, member
 * state, feed, source, consent, report state, flags and source ISP (known and
 * unknown values alike), with an oracle written as a plain table of the rows
 * DESIGN §1 allows; everything not in the table is denied. Named cases below
 * spell out each row of the design's table one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "mail/pipeline.h"
#include "server/authz.h"

#define ME 7        /* the member's own id */
#define OTHER 9     /* another ISP member */

/* ------------------------------------------------------------ the oracle */

/*
 * One row: a role on one of its feeds receives reports of this source when
 * the public consent bit (if any) is given, the report carries a violation
 * flag (if asked) and its source ISP is the member itself (if asked).
 */
struct row {
	enum sx_role role;
	enum sx_feed feed;
	int source;
	unsigned need_consent;   /* 0: none needed */
	int need_flag;
	int need_own_isp;
};

static const struct row rows[] = {
	/* vendor: the association feed, and chain mail */
	{ SX_ROLE_VENDOR, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0, 0, 0 },
	{ SX_ROLE_VENDOR, SX_FEED_ASSOCIATION, SX_SRC_PUBLIC, SX_CONSENT_ASSOCIATION, 0, 0 },
	{ SX_ROLE_VENDOR, SX_FEED_CHAIN, SX_SRC_CHAIN, 0, 0, 0 },
	/* isp: notices from its own prefixes */
	{ SX_ROLE_ISP, SX_FEED_NOTICES, SX_SRC_MONITOR, 0, 0, 1 },
	{ SX_ROLE_ISP, SX_FEED_NOTICES, SX_SRC_PUBLIC, SX_CONSENT_ISP, 0, 1 },
	/* enforcement: violations */
	{ SX_ROLE_ENFORCEMENT, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, 0, 1, 0 },
	{ SX_ROLE_ENFORCEMENT, SX_FEED_ENFORCEMENT, SX_SRC_PUBLIC, SX_CONSENT_ENFORCEMENT, 1, 0 },
	/* auditor, submitter: no rows, nothing */
};

#define NROWS (sizeof rows / sizeof rows[0])

static int oracle_receive(enum sx_role role, enum sx_member_state mstate, int64_t mid,
			  enum sx_feed feed, int source, unsigned consent,
			  enum sx_report_state rstate, unsigned flags, int64_t isp)
{
	if (mstate != SX_MEMBER_ACTIVE)
		return 0;
	if (rstate != SX_REPORT_READY)
		return 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *w = &rows[i];
		if (w->role != role || w->feed != feed || w->source != source)
			continue;
		if (w->need_consent != 0 && !(consent & w->need_consent))
			return 0;
		if (w->need_flag && flags == 0)
			return 0;
		if (w->need_own_isp && (isp == 0 || isp != mid))
			return 0;
		return 1;
	}
	return 0;
}

static int oracle_subscribe(enum sx_role role, enum sx_feed feed)
{
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].role == role && rows[i].feed == feed)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ the domain */

static const int roles[] = { SX_ROLE_NONE, SX_ROLE_VENDOR, SX_ROLE_ISP, SX_ROLE_ENFORCEMENT,
			     SX_ROLE_AUDITOR, SX_ROLE_SUBMITTER, 6, 99, -1 };
static const int mstates[] = { SX_MEMBER_ACTIVE, SX_MEMBER_SUSPENDED, SX_MEMBER_REMOVED, 3,
			       -1 };
static const int feeds[] = { SX_FEED_NONE, SX_FEED_ASSOCIATION, SX_FEED_NOTICES,
			     SX_FEED_ENFORCEMENT, SX_FEED_CHAIN, 5, -1 };
static const int sources[] = { SX_SRC_PUBLIC, SX_SRC_MONITOR, SX_SRC_CHAIN, 0, 4, -1 };
static const int rstates[] = { SX_REPORT_READY, SX_REPORT_QUARANTINED, 2, -1 };
static const int64_t isps[] = { 0, ME, OTHER };

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NCONSENT 8  /* every subset of the three consent bits */
#define NFLAGS 8    /* 0 and every combination of the three violation flags */

static void member(struct sx_member *m, int role, int state, int64_t id)
{
	memset(m, 0, sizeof *m);
	m->id = id;
	snprintf(m->name, sizeof m->name, "m%lld", (long long)id);
	m->role = (enum sx_role)role;
	m->state = (enum sx_member_state)state;
}

static void report(struct sx_authz_report *r, int source, unsigned consent, int state,
		   unsigned flags, int64_t isp)
{
	memset(r, 0, sizeof *r);
	r->source = source;
	r->consent = consent;
	r->state = (enum sx_report_state)state;
	r->flags = flags;
	r->isp = isp;
}

static void test_receive_matrix(void **state)
{
	size_t checked = 0, allowed = 0;
	struct sx_member m;
	struct sx_authz_report r;

	(void)state;
	for (size_t a = 0; a < N(roles); a++)
	for (size_t b = 0; b < N(mstates); b++)
	for (size_t c = 0; c < N(feeds); c++)
	for (size_t d = 0; d < N(sources); d++)
	for (unsigned consent = 0; consent < NCONSENT; consent++)
	for (size_t e = 0; e < N(rstates); e++)
	for (unsigned flags = 0; flags < NFLAGS; flags++)
	for (size_t g = 0; g < N(isps); g++) {
		member(&m, roles[a], mstates[b], ME);
		report(&r, sources[d], consent, rstates[e], flags, isps[g]);
		int want = oracle_receive((enum sx_role)roles[a],
					  (enum sx_member_state)mstates[b], ME,
					  (enum sx_feed)feeds[c], sources[d], consent,
					  (enum sx_report_state)rstates[e], flags, isps[g]);
		int got = sx_authz_may_receive(&m, (enum sx_feed)feeds[c], &r) != 0;
		if (got != want)
			fail_msg("may_receive role=%d mstate=%d feed=%d source=%d consent=%u "
				 "rstate=%d flags=%u isp=%lld: got %d, want %d",
				 roles[a], mstates[b], feeds[c], sources[d], consent, rstates[e],
				 flags, (long long)isps[g], got, want);
		/* A report is never received on a feed the role may not use. */
		if (got)
			assert_true(sx_authz_may_subscribe(m.role, (enum sx_feed)feeds[c]));
		checked++;
		allowed += (size_t)got;
	}
	assert_int_equal(checked, N(roles) * N(mstates) * N(feeds) * N(sources) * NCONSENT *
				  N(rstates) * NFLAGS * N(isps));
	/* The allowed set, counted by hand from the rows (active member, ready
	 * report only); a wrong oracle that denies everything fails here:
	 *   vendor/association monitor: 8 consents x 8 flags x 3 isps = 192
	 *   vendor/association public:  4 consents x 8 x 3             =  96
	 *   vendor/chain chain:         8 x 8 x 3                      = 192
	 *   isp/notices monitor:        8 x 8 x 1 (own isp)            =  64
	 *   isp/notices public:         4 x 8 x 1                      =  32
	 *   enforcement monitor:        8 x 7 flags x 3                = 168
	 *   enforcement public:         4 x 7 x 3                      =  84 */
	assert_int_equal(allowed, 192 + 96 + 192 + 64 + 32 + 168 + 84);
	print_message("may_receive: %zu combinations checked, %zu allowed\n", checked, allowed);
}

/* The one thing the member's id decides: an ISP with id 0 (no such member;
 * 0 means "no ISP") never matches reports without an ISP. */
static void test_isp_zero_never_matches(void **state)
{
	struct sx_member m;
	struct sx_authz_report r;

	(void)state;
	member(&m, SX_ROLE_ISP, SX_MEMBER_ACTIVE, 0);
	report(&r, SX_SRC_MONITOR, 0, SX_REPORT_READY, 0, 0);
	assert_false(sx_authz_may_receive(&m, SX_FEED_NOTICES, &r));
	report(&r, SX_SRC_PUBLIC, SX_CONSENT_ISP, SX_REPORT_READY, 0, 0);
	assert_false(sx_authz_may_receive(&m, SX_FEED_NOTICES, &r));
}

static void test_null_arguments(void **state)
{
	struct sx_member m;
	struct sx_authz_report r;

	(void)state;
	member(&m, SX_ROLE_VENDOR, SX_MEMBER_ACTIVE, ME);
	report(&r, SX_SRC_MONITOR, 0, SX_REPORT_READY, 0, 0);
	assert_true(sx_authz_may_receive(&m, SX_FEED_ASSOCIATION, &r));
	assert_false(sx_authz_may_receive(NULL, SX_FEED_ASSOCIATION, &r));
	assert_false(sx_authz_may_receive(&m, SX_FEED_ASSOCIATION, NULL));
	assert_false(sx_authz_may_act(NULL, 1));
}

static void test_subscribe_matrix(void **state)
{
	size_t checked = 0;

	(void)state;
	for (size_t a = 0; a < N(roles); a++)
		for (size_t c = 0; c < N(feeds); c++) {
			int want = oracle_subscribe((enum sx_role)roles[a], (enum sx_feed)feeds[c]);
			int got = sx_authz_may_subscribe((enum sx_role)roles[a],
							 (enum sx_feed)feeds[c]) != 0;
			if (got != want)
				fail_msg("may_subscribe role=%d feed=%d: got %d, want %d", roles[a],
					 feeds[c], got, want);
			checked++;
		}
	print_message("may_subscribe: %zu combinations checked\n", checked);
}

/* ------------------------------------------------------------ may_send */

/* Every frame kind of the wire, and values that are none. */
static const int kinds[] = {
	SPREX__FRAME__MSG__NOT_SET, SPREX__FRAME__MSG_HELLO, SPREX__FRAME__MSG_WELCOME,
	SPREX__FRAME__MSG_ERROR, SPREX__FRAME__MSG_PING, SPREX__FRAME__MSG_PONG,
	SPREX__FRAME__MSG_GOAWAY, SPREX__FRAME__MSG_SUBSCRIBE, SPREX__FRAME__MSG_SUBSCRIBED,
	SPREX__FRAME__MSG_DELIVER, SPREX__FRAME__MSG_ACK, SPREX__FRAME__MSG_NAK,
	SPREX__FRAME__MSG_REJECT, SPREX__FRAME__MSG_HEARTBEAT, SPREX__FRAME__MSG_GAP,
	SPREX__FRAME__MSG_PARKED, SPREX__FRAME__MSG_PARKED_QUERY, SPREX__FRAME__MSG_PARKED_LIST,
	SPREX__FRAME__MSG_SUBMIT, SPREX__FRAME__MSG_SUBMITTED, SPREX__FRAME__MSG_NOTICE_ACTION,
	SPREX__FRAME__MSG_NOTICE_ACTION_OK, SPREX__FRAME__MSG_AUDIT_QUERY,
	SPREX__FRAME__MSG_AUDIT_RECORD, SPREX__FRAME__MSG_CHECKPOINT,
	SPREX__FRAME__MSG_CONSISTENCY_PROOF, SPREX__FRAME__MSG_STATS, 7, 99, -1,
};

/* The "may send" column: a string of the roles allowed per kind, from the
 * table, with session frames for everyone. */
static int oracle_send(int role, int kind)
{
	const char *who;

	switch (kind) {
	case SPREX__FRAME__MSG_PING:
	case SPREX__FRAME__MSG_PONG:
	case SPREX__FRAME__MSG_GOAWAY:
	case SPREX__FRAME__MSG_ERROR:
		return 1; /* session frames: any authenticated member */
	case SPREX__FRAME__MSG_SUBSCRIBE:
	case SPREX__FRAME__MSG_ACK:
	case SPREX__FRAME__MSG_NAK:
	case SPREX__FRAME__MSG_REJECT:
	case SPREX__FRAME__MSG_PARKED_QUERY:
		who = "VIE"; /* the roles that receive feeds */
		break;
	case SPREX__FRAME__MSG_NOTICE_ACTION:
		who = "I";
		break;
	case SPREX__FRAME__MSG_AUDIT_QUERY:
		who = "A";
		break;
	case SPREX__FRAME__MSG_SUBMIT:
		who = "S";
		break;
	default:
		return 0;
	}
	switch (role) {
	case SX_ROLE_VENDOR: return strchr(who, 'V') != NULL;
	case SX_ROLE_ISP: return strchr(who, 'I') != NULL;
	case SX_ROLE_ENFORCEMENT: return strchr(who, 'E') != NULL;
	case SX_ROLE_AUDITOR: return strchr(who, 'A') != NULL;
	case SX_ROLE_SUBMITTER: return strchr(who, 'S') != NULL;
	default: return 0;
	}
}

static void test_send_matrix(void **state)
{
	size_t checked = 0;

	(void)state;
	for (size_t a = 0; a < N(roles); a++)
		for (size_t k = 0; k < N(kinds); k++) {
			int want = oracle_send(roles[a], kinds[k]);
			int got = sx_authz_may_send((enum sx_role)roles[a],
						    (Sprex__Frame__MsgCase)kinds[k]) != 0;
			if (got != want)
				fail_msg("may_send role=%d kind=%d: got %d, want %d", roles[a],
					 kinds[k], got, want);
			checked++;
		}
	print_message("may_send: %zu combinations checked\n", checked);
}

static void test_act_matrix(void **state)
{
	struct sx_member m;
	size_t checked = 0;

	(void)state;
	for (size_t a = 0; a < N(roles); a++)
		for (size_t b = 0; b < N(mstates); b++)
			for (int sent = 0; sent <= 2; sent++) {
				member(&m, roles[a], mstates[b], ME);
				int want = roles[a] == SX_ROLE_ISP &&
					   mstates[b] == SX_MEMBER_ACTIVE && sent != 0;
				assert_int_equal(sx_authz_may_act(&m, sent) != 0, want);
				checked++;
			}
	print_message("may_act: %zu combinations checked\n", checked);
}

/* ------------------------------------------------------------ DESIGN §1, row by row */

static int recv1(int role, int mstate, enum sx_feed feed, int source, unsigned consent,
		 int rstate, unsigned flags, int64_t isp)
{
	struct sx_member m;
	struct sx_authz_report r;

	member(&m, role, mstate, ME);
	report(&r, source, consent, rstate, flags, isp);
	return sx_authz_may_receive(&m, feed, &r);
}

#define ACTIVE SX_MEMBER_ACTIVE
#define READY SX_REPORT_READY
#define ALLC (SX_CONSENT_ASSOCIATION | SX_CONSENT_ISP | SX_CONSENT_ENFORCEMENT)

static void test_vendor_gets_association_feed(void **state)
{
	(void)state;
	assert_true(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_PUBLIC,
			  SX_CONSENT_ASSOCIATION, READY, 0, 0));
	assert_true(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0, READY,
			  0, 0));
	assert_true(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_CHAIN, SX_SRC_CHAIN, 0, READY, 0, 0));
}

static void test_vendor_never_sees_unconsented_public_report(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_PUBLIC, 0, READY,
			   SX_FLAG_OPTIN, 0));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_PUBLIC,
			   SX_CONSENT_ISP | SX_CONSENT_ENFORCEMENT, READY, SX_FLAG_OPTIN, ME));
}

static void test_vendor_feeds_do_not_mix(void **state)
{
	(void)state;
	/* chain mail is not in the association feed, and the other way round */
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_CHAIN, ALLC,
			   READY, 7, 0));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_CHAIN, SX_SRC_MONITOR, 0, READY, 0,
			   0));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_CHAIN, SX_SRC_PUBLIC, ALLC, READY, 0,
			   0));
}

static void test_vendor_never_uses_isp_or_enforcement_feeds(void **state)
{
	(void)state;
	assert_false(sx_authz_may_subscribe(SX_ROLE_VENDOR, SX_FEED_NOTICES));
	assert_false(sx_authz_may_subscribe(SX_ROLE_VENDOR, SX_FEED_ENFORCEMENT));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_NOTICES, SX_SRC_MONITOR, 0, READY, 0,
			   ME));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, 0, READY,
			   SX_FLAG_OPTIN, 0));
}

static void test_isp_gets_its_own_notices(void **state)
{
	(void)state;
	assert_true(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_MONITOR, 0, READY, 0, ME));
	assert_true(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_PUBLIC, SX_CONSENT_ISP,
			  READY, 0, ME));
}

static void test_isp_never_sees_another_isps_notice(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_MONITOR, 0, READY, 0,
			   OTHER));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_PUBLIC, ALLC, READY, 7,
			   OTHER));
}

static void test_isp_never_sees_reports_outside_its_prefixes(void **state)
{
	(void)state;
	/* isp 0: the source IP lies in no member's prefixes */
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_MONITOR, 0, READY, 0, 0));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_PUBLIC, ALLC, READY, 0,
			   0));
}

static void test_isp_never_sees_unconsented_public_report(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_PUBLIC,
			   SX_CONSENT_ASSOCIATION | SX_CONSENT_ENFORCEMENT, READY, 7, ME));
}

static void test_isp_never_sees_chain_mail_or_other_feeds(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_CHAIN, ALLC, READY, 7, ME));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0, READY, 0,
			   ME));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, 0, READY, 7,
			   ME));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_CHAIN, SX_SRC_CHAIN, 0, READY, 0, ME));
}

static void test_enforcement_gets_violations(void **state)
{
	(void)state;
	assert_true(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, 0,
			  READY, SX_FLAG_OPTIN, 0));
	assert_true(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_PUBLIC,
			  SX_CONSENT_ENFORCEMENT, READY, SX_FLAG_SPOOFING, OTHER));
}

static void test_enforcement_never_sees_unflagged_report(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, 0,
			   READY, 0, 0));
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_PUBLIC, ALLC,
			   READY, 0, 0));
}

static void test_enforcement_never_sees_unconsented_public_report(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_PUBLIC,
			   SX_CONSENT_ASSOCIATION | SX_CONSENT_ISP, READY, 7, ME));
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_CHAIN, ALLC,
			   READY, 7, 0));
}

static void test_auditor_and_submitter_receive_nothing(void **state)
{
	static const int who[] = { SX_ROLE_AUDITOR, SX_ROLE_SUBMITTER, SX_ROLE_NONE };

	(void)state;
	for (size_t i = 0; i < N(who); i++)
		for (size_t c = 0; c < N(feeds); c++) {
			assert_false(sx_authz_may_subscribe((enum sx_role)who[i],
							    (enum sx_feed)feeds[c]));
			assert_false(recv1(who[i], ACTIVE, (enum sx_feed)feeds[c], SX_SRC_MONITOR,
					   ALLC, READY, 7, ME));
		}
}

static void test_quarantined_report_goes_to_nobody(void **state)
{
	(void)state;
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, ALLC,
			   SX_REPORT_QUARANTINED, 7, ME));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_CHAIN, SX_SRC_CHAIN, ALLC,
			   SX_REPORT_QUARANTINED, 7, ME));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, SX_SRC_MONITOR, ALLC,
			   SX_REPORT_QUARANTINED, 7, ME));
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, SX_SRC_MONITOR, ALLC,
			   SX_REPORT_QUARANTINED, 7, ME));
}

static void test_suspended_or_removed_member_receives_nothing(void **state)
{
	static const int st[] = { SX_MEMBER_SUSPENDED, SX_MEMBER_REMOVED };

	(void)state;
	for (size_t i = 0; i < N(st); i++) {
		assert_false(recv1(SX_ROLE_VENDOR, st[i], SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0,
				   READY, 0, 0));
		assert_false(recv1(SX_ROLE_VENDOR, st[i], SX_FEED_CHAIN, SX_SRC_CHAIN, 0, READY, 0,
				   0));
		assert_false(recv1(SX_ROLE_ISP, st[i], SX_FEED_NOTICES, SX_SRC_MONITOR, 0, READY, 0,
				   ME));
		assert_false(recv1(SX_ROLE_ENFORCEMENT, st[i], SX_FEED_ENFORCEMENT, SX_SRC_MONITOR,
				   0, READY, 7, 0));
	}
}

static void test_unknown_values_deny(void **state)
{
	(void)state;
	/* unknown source with every consent bit, flags and own isp */
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, 0, ALLC, READY, 7, ME));
	assert_false(recv1(SX_ROLE_ISP, ACTIVE, SX_FEED_NOTICES, 4, ALLC, READY, 7, ME));
	assert_false(recv1(SX_ROLE_ENFORCEMENT, ACTIVE, SX_FEED_ENFORCEMENT, 99, ALLC, READY, 7,
			   ME));
	/* unknown feed, role, report state */
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, (enum sx_feed)5, SX_SRC_MONITOR, 0, READY, 0,
			   0));
	assert_false(recv1(6, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0, READY, 0, 0));
	assert_false(recv1(SX_ROLE_VENDOR, ACTIVE, SX_FEED_ASSOCIATION, SX_SRC_MONITOR, 0, 2, 0,
			   0));
}

static void test_isp_may_act_only_on_its_notices(void **state)
{
	struct sx_member m;

	(void)state;
	member(&m, SX_ROLE_ISP, ACTIVE, ME);
	assert_true(sx_authz_may_act(&m, 1));
	assert_false(sx_authz_may_act(&m, 0));
	m.state = SX_MEMBER_SUSPENDED;
	assert_false(sx_authz_may_act(&m, 1));
	member(&m, SX_ROLE_VENDOR, ACTIVE, ME);
	assert_false(sx_authz_may_act(&m, 1));
	member(&m, SX_ROLE_ENFORCEMENT, ACTIVE, ME);
	assert_false(sx_authz_may_act(&m, 1));
}

/* ------------------------------------------------------------ feed names */

static void test_feed_names(void **state)
{
	static const struct {
		enum sx_feed f;
		const char *name;
	} t[] = {
		{ SX_FEED_ASSOCIATION, "association" },
		{ SX_FEED_NOTICES, "notices" },
		{ SX_FEED_ENFORCEMENT, "enforcement" },
		{ SX_FEED_CHAIN, "chain" },
	};

	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		assert_string_equal(sx_feed_name(t[i].f), t[i].name);
		assert_int_equal(sx_feed_parse(t[i].name), t[i].f);
	}
	assert_null(sx_feed_name(SX_FEED_NONE));
	assert_null(sx_feed_name((enum sx_feed)5));
	assert_null(sx_feed_name((enum sx_feed)-1));
	assert_int_equal(sx_feed_parse(NULL), SX_FEED_NONE);
	assert_int_equal(sx_feed_parse(""), SX_FEED_NONE);
	assert_int_equal(sx_feed_parse("Association"), SX_FEED_NONE);
	assert_int_equal(sx_feed_parse("chain "), SX_FEED_NONE);
	assert_int_equal(sx_feed_parse("none"), SX_FEED_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receive_matrix),
		cmocka_unit_test(test_isp_zero_never_matches),
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_subscribe_matrix),
		cmocka_unit_test(test_send_matrix),
		cmocka_unit_test(test_act_matrix),
		cmocka_unit_test(test_vendor_gets_association_feed),
		cmocka_unit_test(test_vendor_never_sees_unconsented_public_report),
		cmocka_unit_test(test_vendor_feeds_do_not_mix),
		cmocka_unit_test(test_vendor_never_uses_isp_or_enforcement_feeds),
		cmocka_unit_test(test_isp_gets_its_own_notices),
		cmocka_unit_test(test_isp_never_sees_another_isps_notice),
		cmocka_unit_test(test_isp_never_sees_reports_outside_its_prefixes),
		cmocka_unit_test(test_isp_never_sees_unconsented_public_report),
		cmocka_unit_test(test_isp_never_sees_chain_mail_or_other_feeds),
		cmocka_unit_test(test_enforcement_gets_violations),
		cmocka_unit_test(test_enforcement_never_sees_unflagged_report),
		cmocka_unit_test(test_enforcement_never_sees_unconsented_public_report),
		cmocka_unit_test(test_auditor_and_submitter_receive_nothing),
		cmocka_unit_test(test_quarantined_report_goes_to_nobody),
		cmocka_unit_test(test_suspended_or_removed_member_receives_nothing),
		cmocka_unit_test(test_unknown_values_deny),
		cmocka_unit_test(test_isp_may_act_only_on_its_notices),
		cmocka_unit_test(test_feed_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
