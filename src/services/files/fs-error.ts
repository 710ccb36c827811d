import { ServiceError, SockitError } from '../../errors.js';

/**
 * An fs error as a SockitError for a peer: a stable code and a message that
 * never names a server path (the original stays as `cause`, for the logs).
 */
export function fsError(err: unknown, what: string): SockitError {
  if (err instanceof SockitError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ServiceError('NO_SPACE', `${what}: no space left on the storage device`, {
        cause: err,
      });
    case 'EFBIG':
      return new ServiceError('TOO_LARGE', `${what}: file too large for the storage`, {
        cause: err,
      });
    case 'EEXIST':
      return new ServiceError('EXISTS', `${what}: already exists`, { cause: err });
    case 'ENOENT':
      return new ServiceError('NOT_FOUND', `${what}: no such file`, { cause: err });
    case 'ELOOP':
    case 'ENOTDIR':
    case 'EISDIR':
      return new ServiceError('BAD_NAME', `${what}: a path component is not a plain directory`, {
        cause: err,
      });
    default:
      return new ServiceError('IO_ERROR', `${what}: input/output error`, { cause: err });
  }
}
