/* The grounding tasks' figure, as upstream's evaluate_instructions.py draws
 * results/images_with_bboxes.png: the LAST (up to) 16 samples of the task, each image (grey,
 * drawn as RGB) with its ground-truth boxes in light green (144, 238, 144) and the boxes parsed
 * from the answer with the grounding rule (rv_boxes_parse) in red (255, 0, 0), 2-pixel
 * rectangles clipped to the image. Boxes are fractions of the image width / height (the
 * dataset's normalised coordinates). Images are scaled (bicubic, aspect kept, centred) to fit a
 * common cell x cell square; cells sit in a ceil(sqrt(k))-column grid with RV_EVAL_BOX_PNG_GAP
 * pixels of dark grey (32) around and between them. A sample whose image cannot be had is
 * drawn as an empty cell (with a warning); the figure is still written. */
#ifndef RADVLM_EVAL_RUN_BOX_PNG_H
#define RADVLM_EVAL_RUN_BOX_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/run/answer.h"
#include "eval/run/item.h"
#include "io/image.h"

#define RV_EVAL_BOX_PNG_MAX 16
#define RV_EVAL_BOX_PNG_GAP 4

/* Gives sample i's grey image (8- or 16-bit) into *img, which the caller of the callback frees
 * with rv_image_free. Returns 0, or non-zero with err set (missing or unreadable image). Only
 * called for the drawn samples. */
typedef int (*rv_eval_image_fn)(void *ctx, size_t i, rv_image *img, rv_err *err);

/* The drawn samples: [*first, *first + *count) = the last min(n, 16). */
void rv_eval_box_png_pick(size_t n, size_t *first, size_t *count);

/* The figure in memory: *rgb (malloc'd) holds *height rows of *width RGB triplets. n > 0,
 * cell >= 8. */
int rv_eval_box_grid_render(const rv_eval_item *items, const rv_eval_answer *answers, size_t n, int cell,
                            rv_eval_image_fn get_image, void *ctx, uint8_t **rgb, int *width, int *height,
                            rv_err *err);

/* Renders and writes the figure as an 8-bit RGB PNG, atomically. */
int rv_eval_box_png_write(const char *path, const rv_eval_item *items, const rv_eval_answer *answers, size_t n,
                          int cell, rv_eval_image_fn get_image, void *ctx, rv_err *err);

#endif
