/*
 * err.h: the error codes every sprex function returns.
 *
 * A function returns 0 on success or one of these negative codes. Library code
 * never logs; the caller that decides what to do with the failure logs it, once.
 */
#ifndef SX_ERR_H
#define SX_ERR_H

enum sx_err {
	SX_OK = 0,
	SX_ENOMEM = -1,    /* allocation failed or a budget was exhausted */
	SX_EINVAL = -2,    /* bad argument or malformed input */
	SX_EPROTO = -3,    /* peer broke the protocol */
	SX_ETOOBIG = -4,   /* a size limit would be exceeded */
	SX_EAGAIN = -5,    /* no progress possible now; call again with more input */
	SX_EIO = -6,       /* operating-system I/O failure */
	SX_ETLS = -7,      /* TLS failure (handshake, verification, record layer) */
	SX_ECLOSED = -8,   /* orderly close by the peer */
	SX_ETRUNC = -9,    /* transport ended without close_notify or mid-frame */
	SX_ETIMEDOUT = -10,/* a deadline passed */
	SX_ENOTFOUND = -11,/* no such object */
	SX_EEXIST = -12,   /* object already exists */
	SX_EBUSY = -13,    /* resource busy; try again later */
	SX_ECONFIG = -14,  /* configuration error */
	SX_EDB = -15,      /* database error */
	SX_EPERM = -16,    /* not allowed */
	SX_ELIMIT = -17,   /* a configured count limit was reached */
};

/* Returns a static, human-readable name for err (any int accepted). */
const char *sx_strerror(int err);

#endif
