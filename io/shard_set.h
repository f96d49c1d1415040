/* Replacing a shard directory as a whole (docs/formats.md "Re-pack and the commit rule").
 * A pack writes its shards and index.h5 into a staging directory beside the set, OUT.partial,
 * and only then swaps it with OUT (renameat2 RENAME_EXCHANGE, one atomic step), so until the
 * new index.h5 is in place the old set stays complete and readable: a kill at any point leaves
 * either the old or the new complete set under OUT, plus temporaries the next pack removes. */
#ifndef RV_IO_SHARD_SET_H
#define RV_IO_SHARD_SET_H

#include "core/error.h"

/* The directory the new set is written into: "OUT.partial", OUT with links resolved (so the
 * staging directory lies on the set's file system). Same on every rank. malloc'd. */
char *rv_shard_set_staging(const char *out);

/* Rank 0, before any shard is opened: refuses an OUT that holds files a pack did not write (the
 * swap would carry them away), restores OUT from OUT.old when a pack died inside the fallback
 * swap, removes a leftover staging directory, and creates an empty one. OUT is left as it is. */
int rv_shard_set_begin(const char *out, const char *staging, rv_err *err);

/* Rank 0, after every shard and index.h5 are committed in staging: puts the staging set in
 * place as OUT and removes the previous set. */
int rv_shard_set_commit(const char *out, const char *staging, rv_err *err);

#endif
