/*
 * notice.h: an ISP's answer to a notice (NoticeAction): what it did about a
 * report sent to it on the notices feed, recorded, then confirmed.
 */
#ifndef SX_NOTICE_H
#define SX_NOTICE_H

#include <stdint.h>

#include "frame.h"

struct sx_session;

#define SX_NOTICE_NOTE_MAX 1024

/* Records m for the session's member and answers NoticeActionOk after the
 * commit, or an Error: FORBIDDEN (not an active ISP, or the report was never
 * sent to it), INVALID (unknown action, long note), BUSY, INTERNAL. */
void sx_notice_action(struct sx_session *ss, uint64_t id, const Sprex__NoticeAction *m);

#endif
