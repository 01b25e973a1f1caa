#include "err.h"

const char *sx_strerror(int err)
{
	switch (err) {
	case SX_OK: return "success";
	case SX_ENOMEM: return "out of memory or budget";
	case SX_EINVAL: return "invalid argument or input";
	case SX_EPROTO: return "protocol error";
	case SX_ETOOBIG: return "size limit exceeded";
	case SX_EAGAIN: return "try again";
	case SX_EIO: return "I/O error";
	case SX_ETLS: return "TLS error";
	case SX_ECLOSED: return "closed by peer";
	case SX_ETRUNC: return "truncated";
	case SX_ETIMEDOUT: return "timed out";
	case SX_ENOTFOUND: return "not found";
	case SX_EEXIST: return "already exists";
	case SX_EBUSY: return "busy";
	case SX_ECONFIG: return "configuration error";
	case SX_EDB: return "database error";
	case SX_EPERM: return "not permitted";
	case SX_ELIMIT: return "limit reached";
	}
	return "unknown error";
}
