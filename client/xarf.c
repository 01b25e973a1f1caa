/*
 * xarf.c: XARF v4 JSON notices.
 */
#include "xarf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "json.h"
#include "sink_impl.h"

#define DESC_MAX 1000   /* the core schema's maxLength of description */
#define ADDR_MAX 256

static void kv(struct sx_json *js, const char *k, const char *v)
{
	sx_json_key(js, k);
	sx_json_str(js, v ? v : "");
}

static void contact(struct sx_json *js, const char *key, const struct sx_notice_opts *o)
{
	sx_json_key(js, key);
	sx_json_obj_begin(js);
	kv(js, "org", o->reporter_org);
	kv(js, "contact", o->reporter_contact);
	kv(js, "domain", o->reporter_domain);
	sx_json_obj_end(js);
}

static const char *xarf_evidence_source(int source)
{
	return source == SPREX__SOURCE__SOURCE_MONITOR ? "spamtrap" : "user_complaint";
}

/* One evidence item: payload base64 of p[0..n), hash sha256 of the same. */
static int evidence(struct sx_json *js, const char *ctype, const char *desc, const uint8_t *p,
		    size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hash[8 + 65];
	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return SX_ENOMEM;
	memcpy(hash, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hash + 7 + 2 * i, 3, "%02x", md[i]);
	size_t b64len = 4 * ((n + 2) / 3);
	char *b64 = malloc(b64len + 1);
	if (!b64)
		return SX_ENOMEM;
	EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
	sx_json_obj_begin(js);
	kv(js, "content_type", ctype);
	kv(js, "description", desc);
	sx_json_key(js, "payload");
	sx_json_strn(js, b64, b64len);
	kv(js, "hash", hash);
	sx_json_key(js, "size");
	sx_json_int(js, (int64_t)n);
	sx_json_obj_end(js);
	free(b64);
	return 0;
}

/* Cuts s to at most max bytes at a UTF-8 character boundary. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

static void answer(struct sx_json *js, const struct sx_notice_opts *o, const char *id)
{
	char cmd[1024];
	if (sx_notice_answer(o, id, cmd, sizeof cmd) < 0)
		snprintf(cmd, sizeof cmd, "sprex-agent action --config FILE %s --taken ACTION",
			 id);
	sx_json_key(js, "answer");
	sx_json_obj_begin(js);
	kv(js, "command", cmd);
	sx_json_key(js, "actions");
	sx_json_arr_begin(js);
	for (int i = 1; i <= SX_ACTIONS; i++)
		sx_json_str(js, sx_action_name(i));
	sx_json_arr_end(js);
	sx_json_obj_end(js);
}

static void tag(struct sx_json *js, const char *ns, const char *v)
{
	char t[128];
	size_t n = (size_t)snprintf(t, sizeof t, "%s:", ns);
	for (const char *c = v; c && *c && n + 1 < sizeof t; c++) {
		char ch = *c;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr("_+-.", ch)))
			ch = '-';
		t[n++] = ch;
	}
	t[n] = '\0';
	if (n > strlen(ns) + 1)
		sx_json_str(js, t);
}

int sx_xarf_build(const Sprex__Deliver *d, const struct sx_notice_opts *opts, struct sx_buf *out)
{
	struct sx_notice_opts o;
	if (!d || !d->report_id || !d->report_id[0])
		return SX_EINVAL;
	sx_notice_opts_resolve(opts, &o);
	const Sprex__ReportMeta *m = d->meta;
	const uint8_t *mail = d->raw_mail.data ? d->raw_mail.data : (const uint8_t *)"";
	size_t mlen = d->raw_mail.len;
	char id[80], uuid[37], ts[40], from[ADDR_MAX];
	sx_sink_clean(d->report_id, id, sizeof id);
	sx_notice_uuid(id, uuid);
	sx_notice_iso_time(m ? m->received_ms : 0, ts, sizeof ts);
	const char *ip = m && m->source_ip && m->source_ip[0] ? m->source_ip : "unknown";
	unsigned port = m ? (unsigned)m->source_port : 0;
	size_t have_from = sx_notice_header_addr(mail, mlen, "Return-Path", from, sizeof from);
	if (!have_from)
		have_from = sx_notice_header_addr(mail, mlen, "From", from, sizeof from);
	int headers_only = mlen > o.message_max || mlen > SX_XARF_EVIDENCE_MAX;

	struct sx_json js;
	sx_json_init(&js, out);
	sx_json_obj_begin(&js);
	kv(&js, "sprex_report_id", id);
	kv(&js, "xarf_version", "4.0.0");
	kv(&js, "report_id", uuid);
	kv(&js, "timestamp", ts);
	contact(&js, "reporter", &o);
	contact(&js, "sender", &o);
	kv(&js, "source_identifier", ip);
	if (port) {
		sx_json_key(&js, "source_port");
		sx_json_int(&js, port);
	}
	kv(&js, "category", "messaging");
	kv(&js, "type", "spam");
	/* the schema wants smtp_from and source_port with "smtp": say "other"
	 * rather than invent either */
	kv(&js, "protocol", port && have_from ? "smtp" : "other");
	if (have_from)
		kv(&js, "smtp_from", from);
	kv(&js, "evidence_source", xarf_evidence_source(m ? (int)m->source : 0));

	char desc[DESC_MAX + 512], cmd[1024];
	size_t dn = (size_t)snprintf(desc, sizeof desc, "Spam received %s from %s", ts, ip);
	if (port)
		dn += (size_t)snprintf(desc + dn, sizeof desc - dn, " port %u", port);
	dn += (size_t)snprintf(desc + dn, sizeof desc - dn, " (%s); flags:",
			       sx_notice_evidence_source(m ? (int)m->source : 0));
	for (size_t i = 0; m && i < m->n_violations && dn < sizeof desc; i++)
		dn += (size_t)snprintf(desc + dn, sizeof desc - dn, "%s %s (%s)", i ? "," : "",
				       m->violations[i]->flag ? m->violations[i]->flag : "",
				       m->violations[i]->article ? m->violations[i]->article : "");
	if (dn < sizeof desc && (!m || m->n_violations == 0))
		dn += (size_t)snprintf(desc + dn, sizeof desc - dn, " none");
	if (sx_notice_answer(&o, id, cmd, sizeof cmd) >= 0 && dn < sizeof desc)
		snprintf(desc + dn, sizeof desc - dn,
			 ". Please stop the transmission and answer: %s", cmd);
	cut_utf8(desc, DESC_MAX);
	kv(&js, "description", desc);

	sx_json_key(&js, "evidence");
	sx_json_arr_begin(&js);
	int rc = headers_only
		 ? evidence(&js, "text/rfc822-headers",
			    "header block of the de-personalized mail (over the limit)",
			    mail, sx_notice_header_len(mail, mlen))
		 : evidence(&js, "message/rfc822", "the de-personalized mail, full headers", mail,
			    mlen);
	if (rc < 0)
		return rc;
	sx_json_arr_end(&js);

	sx_json_key(&js, "tags");
	sx_json_arr_begin(&js);
	tag(&js, "sprex-report", id);
	tag(&js, "source", sx_sink_source_name(m ? (int)m->source : 0));
	for (size_t i = 0; m && i < m->n_violations; i++)
		tag(&js, "flag", m->violations[i]->flag);
	sx_json_arr_end(&js);

	sx_json_key(&js, "sprex");
	sx_json_obj_begin(&js);
	kv(&js, "report_id", id);
	kv(&js, "sha256", m ? m->sha256 : "");
	kv(&js, "evidence_source", sx_sink_source_name(m ? (int)m->source : 0));
	kv(&js, "arrival", ts);
	sx_json_key(&js, "source_port");
	if (port)
		sx_json_int(&js, port);
	else
		sx_json_null(&js);
	kv(&js, "isp", m ? m->isp : "");
	sx_json_key(&js, "flags");
	sx_json_arr_begin(&js);
	for (size_t i = 0; m && i < m->n_violations; i++) {
		sx_json_obj_begin(&js);
		kv(&js, "flag", m->violations[i]->flag);
		kv(&js, "evidence", m->violations[i]->evidence);
		kv(&js, "article", m->violations[i]->article);
		sx_json_obj_end(&js);
	}
	sx_json_arr_end(&js);
	sx_json_key(&js, "categories");
	sx_json_arr_begin(&js);
	for (size_t i = 0; m && i < m->n_categories; i++)
		sx_json_str(&js, m->categories[i] ? m->categories[i] : "");
	sx_json_arr_end(&js);
	sx_json_key(&js, "redaction_count");
	sx_json_int(&js, m ? m->redaction_count : 0);
	sx_json_key(&js, "manifest");
	sx_json_arr_begin(&js);
	for (size_t i = 0; i < d->n_manifest; i++) {
		const Sprex__RedactionEntry *e = d->manifest[i];
		sx_json_obj_begin(&js);
		kv(&js, "part", e->part);
		kv(&js, "where", e->where);
		kv(&js, "kind", e->kind);
		kv(&js, "encoding", e->encoding);
		sx_json_key(&js, "count");
		sx_json_int(&js, e->count);
		sx_json_obj_end(&js);
	}
	sx_json_arr_end(&js);
	kv(&js, "requested_action",
	   "identify the customer using this IP at that time, stop the transmission, "
	   "and report the action taken");
	answer(&js, &o, id);
	sx_json_obj_end(&js);
	sx_json_obj_end(&js);
	return sx_json_finish(&js);
}

int sx_xarf_digest(const struct sx_notice_digest *g, const struct sx_notice_opts *opts,
		   struct sx_buf *out)
{
	struct sx_notice_opts o;
	if (!g || !g->id || !g->id[0])
		return SX_EINVAL;
	sx_notice_opts_resolve(opts, &o);
	char uuid[37], first[40], last[40], desc[DESC_MAX + 1];
	sx_notice_uuid(g->id, uuid);
	sx_notice_iso_time(g->first_ms, first, sizeof first);
	sx_notice_iso_time(g->last_ms, last, sizeof last);
	const char *ip = g->source_ip && g->source_ip[0] ? g->source_ip : "unknown";
	snprintf(desc, sizeof desc, "Daily digest: %llu spam reports from %s on %s (first %s, "
		 "last %s); answer each report id with sprex-agent action",
		 (unsigned long long)g->count, ip, g->day ? g->day : "", first, last);

	struct sx_json js;
	sx_json_init(&js, out);
	sx_json_obj_begin(&js);
	kv(&js, "sprex_report_id", g->id);
	kv(&js, "xarf_version", "4.0.0");
	kv(&js, "report_id", uuid);
	kv(&js, "timestamp", first);
	contact(&js, "reporter", &o);
	contact(&js, "sender", &o);
	kv(&js, "source_identifier", ip);
	kv(&js, "category", "messaging");
	kv(&js, "type", "spam");
	kv(&js, "protocol", "other");
	kv(&js, "description", desc);

	/* the list of report ids as a text evidence item */
	struct sx_buf list;
	sx_buf_init(&list, SX_NOTICE_MAX);
	int rc = 0;
	for (size_t i = 0; i < g->n_ids && rc == 0; i++)
		rc = sx_notice_put(&list, "%s\n", g->report_ids[i]);
	sx_json_key(&js, "evidence");
	sx_json_arr_begin(&js);
	if (rc == 0)
		rc = evidence(&js, "text/plain", "report ids of the day", sx_buf_head(&list),
			      sx_buf_used(&list));
	sx_buf_finish(&list);
	if (rc == 0 && g->headers && g->headers_len)
		rc = evidence(&js, "text/rfc822-headers", "header block of the first report",
			      g->headers, g->headers_len);
	if (rc < 0)
		return rc;
	sx_json_arr_end(&js);

	sx_json_key(&js, "sprex_digest");
	sx_json_obj_begin(&js);
	kv(&js, "day", g->day);
	kv(&js, "source_ip", ip);
	sx_json_key(&js, "count");
	sx_json_int(&js, (int64_t)g->count);
	kv(&js, "first_seen", first);
	kv(&js, "last_seen", last);
	sx_json_key(&js, "report_ids");
	sx_json_arr_begin(&js);
	for (size_t i = 0; i < g->n_ids; i++)
		sx_json_str(&js, g->report_ids[i]);
	sx_json_arr_end(&js);
	sx_json_obj_end(&js);
	sx_json_key(&js, "sprex");
	sx_json_obj_begin(&js);
	kv(&js, "report_id", g->id);
	answer(&js, &o, "REPORT_ID");
	sx_json_obj_end(&js);
	sx_json_obj_end(&js);
	return sx_json_finish(&js);
}
