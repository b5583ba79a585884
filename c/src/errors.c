/* errors.c: error names, and the refinement relation of the Go sentinels. */
#include "internal.h"

const char *shmring_strerror(int err)
{
	switch (err) {
	case SHMRING_OK: return "ok";
	case SHMRING_EFULL: return "ring: full";
	case SHMRING_EEMPTY: return "ring: empty";
	case SHMRING_EEOF: return "EOF";
	case SHMRING_ECLOSED: return "ring: closed";
	case SHMRING_ECORRUPT: return "ring: corrupt";
	case SHMRING_EVERSION: return "ring: unsupported layout version";
	case SHMRING_EKIND: return "ring: wrong kind of region";
	case SHMRING_ETOOLARGE: return "ring: message too large";
	case SHMRING_EFENCED: return "ring: fenced: another handle took over this claim";
	case SHMRING_ENOTRESERVED: return "ring: no such reservation";
	case SHMRING_EOUTSTANDING: return "ring: a reservation or peeked message is outstanding";
	case SHMRING_ETIMEDOUT: return "context deadline exceeded";
	case SHMRING_EPEERDEAD: return "ring: every handle on the other side is dead";
	case SHMRING_EINVAL: return "ring: invalid argument";
	case SHMRING_ENOTFOUND: return "arena: not found";
	case SHMRING_ESYS: return "system call failed (see errno)";
	case SHMRING_ENOTARENA: return "arena: not an arena";
	case SHMRING_ECHECKSUM: return "arena: corrupt: checksum mismatch";
	case SHMRING_ETRUNCATED: return "arena: corrupt: truncated";
	case SHMRING_EBYTEORDER: return "arena: unsupported layout version: byte order";
	case SHMRING_ENOTREADY: return "arena: not ready";
	case SHMRING_EPERM: return "arena: file refused";
	case SHMRING_EUNSUPPORTED: return "ring: unsupported here";
	case SHMRING_ESHORTBUF: return "short buffer";
	case SHMRING_ELAPPED: return "ring: subscriber lapped";
	case SHMRING_ESUBSCRIBERS: return "ring: too many subscribers";
	case SHMRING_EHANDLECLOSED: return "ring: handle closed";
	}
	return "shmring: unknown error";
}

int shmring_err_is(int err, int target)
{
	if (err == target)
		return 1;
	switch (err) {
	case SHMRING_ECHECKSUM:
	case SHMRING_ETRUNCATED:
		return target == SHMRING_ECORRUPT;
	case SHMRING_EBYTEORDER:
		return target == SHMRING_EVERSION;
	case SHMRING_EHANDLECLOSED:
		return target == SHMRING_ECLOSED;
	}
	return 0;
}
