/* The structure of a DICOM Part 10 file, checked before GDCM reads it.
 *
 * GDCM 3.0 (as packaged) asserts instead of failing on some malformed headers (a sequence or an
 * undefined length in the file meta group, a value running past the end of the file,
 * SamplesPerPixel > 4, ...): an abort that would take the whole MPI job down. So every byte
 * GDCM would parse is walked here first, and only a file whose element stream is well formed
 * and whose image is one we decode reaches it (docs/limits.md "Images, DICOM and fuzzing").
 * The walk is a single pass over the bytes, with no allocation. */
#ifndef RADVLM_IO_DICOM_SCAN_H
#define RADVLM_IO_DICOM_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* What the walk learned: the transfer syntax and the top-level image pixel module. */
typedef struct rv_dicom_scan {
    char transfer_syntax[68];   /* (0002,0010), trailing NUL/space padding removed */
    bool explicit_vr, big_endian;
    bool encapsulated;          /* compressed pixel data (fragments) */
    long long rows, columns;    /* (0028,0010), (0028,0011) */
    long long frames;           /* (0028,0008) NumberOfFrames; 1 when absent */
    int samples_per_pixel;      /* (0028,0002); 1 when absent */
    int bits_allocated;         /* (0028,0100) */
    int bits_stored, high_bit;  /* (0028,0101), (0028,0102); -1 when absent */
    int pixel_representation;   /* (0028,0103); 0 when absent */
    uint64_t pixel_bytes;       /* length of native (7FE0,0010); 0 when encapsulated */
} rv_dicom_scan;

/* Checks data[len] as GDCM would read it:
 *  - the 128-byte preamble and "DICM";
 *  - the file meta group (always explicit VR little endian): first (0002,0000) UL whose value is
 *    the byte length of the rest of the group, every element a known VR, no sequence, no
 *    undefined length, every value inside the file, a transfer syntax we can walk (implicit or
 *    explicit VR little endian, explicit big endian, or an encapsulated JPEG / JPEG-LS /
 *    JPEG 2000 / RLE syntax);
 *  - the data set: tags ascending (no repeats) in each data set and item, every element a known VR
 *    with its value inside the file (or inside its item), even lengths inside items,
 *    sequences and items properly nested and delimited (at most 16 deep), encapsulated fragments
 *    of defined length, SamplesPerPixel 1..4 and BitsAllocated 1..64 in nested items (icons);
 *  - the image: Rows, Columns and BitsAllocated present, SamplesPerPixel 1 (grey), BitsAllocated
 *    8 or 16, BitsStored 1..BitsAllocated (8 when BitsAllocated is 8), HighBit < BitsAllocated,
 *    NumberOfFrames >= 1;
 *  - the pixel budget: Rows x Columns x frames <= max_pixels (when max_pixels > 0), before any
 *    decode allocation (data.max_image_pixels);
 *  - native pixel data holding Rows x Columns x frames x SamplesPerPixel x BitsAllocated / 8
 *    bytes.
 * Returns 0 with *out filled, or -1 with err "<where>: <what is wrong>; <what to do>". */
int rv_dicom_scan_bytes(const char *where, const unsigned char *data, size_t len, long long max_pixels,
                        rv_dicom_scan *out, rv_err *err);

#endif
