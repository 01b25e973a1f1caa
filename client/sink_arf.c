/*
 * sink_arf.c: the ARF notice sinks. "arf-maildir" files one RFC 5965
 * message per report id in a Maildir (tmp/, fsync, rename into new/; the
 * X-Sprex-* block above the ARF headers as in the maildir sink); "arf-exec"
 * runs a command per notice with the ARF message on standard input (a
 * ticket system's mail gateway, or sendmail -t for the local MTA) and the
 * report's metadata in the environment, with the exec sink's exit-status
 * rules (0 ack, 65 park, anything else retry).
 */
#include "sink_impl.h"

static int arf_maildir_create(const struct sx_sink_conf *conf, void **impl, char *err,
			      size_t errlen)
{
	return sx_sink_notice_create(conf, SX_NOTICE_ARF, &sx_sink_maildir_ops, impl, err,
				     errlen);
}

static int arf_exec_create(const struct sx_sink_conf *conf, void **impl, char *err,
			   size_t errlen)
{
	return sx_sink_notice_create(conf, SX_NOTICE_ARF, &sx_sink_exec_ops, impl, err, errlen);
}

const struct sx_sink_ops sx_sink_arf_maildir_ops = {
	.create = arf_maildir_create,
	.destroy = sx_sink_notice_destroy,
	.deliver = sx_sink_notice_deliver,
	.flush = sx_sink_notice_flush,
};

const struct sx_sink_ops sx_sink_arf_exec_ops = {
	.create = arf_exec_create,
	.destroy = sx_sink_notice_destroy,
	.deliver = sx_sink_notice_deliver,
	.flush = sx_sink_notice_flush,
};
