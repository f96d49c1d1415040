#include "train/partition.h"

rv_range rv_partition(size_t total, int rank, int nranks) {
    size_t units = (total + RV_PARTITION_ALIGN - 1) / RV_PARTITION_ALIGN;
    size_t p = (size_t)nranks, r = (size_t)rank;
    size_t base = units / p, rem = units % p;
    size_t first = r * base + (r < rem ? r : rem), count = base + (r < rem ? 1 : 0);
    size_t off = first * RV_PARTITION_ALIGN, end = (first + count) * RV_PARTITION_ALIGN;
    if (off > total) off = total;
    if (end > total) end = total;
    return (rv_range){off, end - off};
}
