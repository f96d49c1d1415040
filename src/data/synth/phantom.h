/* Chest X-ray phantom: a procedural frontal (PA/AP) radiograph with the anatomy a reader of
 * real CXRs expects (lungs, heart, mediastinum, trachea, spine, ribs, clavicles, diaphragm,
 * upper abdomen) and findings drawn at known places. Everything is in pixels with the image's
 * top-left origin; the patient's right is on the image's left, as on a real PA film.
 * Deterministic: the same rv_rng state gives the same plan and the same pixels. */
#ifndef RADVLM_DATA_SYNTH_PHANTOM_H
#define RADVLM_DATA_SYNTH_PHANTOM_H

#include <stdbool.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/image.h"

typedef enum {
    RV_PF_CARDIOMEGALY = 0,  /* enlarged cardiac silhouette (cardiothoracic ratio > 0.5) */
    RV_PF_EFFUSION,          /* basal opacity with a meniscus, blunted costophrenic angle */
    RV_PF_PNEUMOTHORAX,      /* apical-lateral lucent rim without lung markings, pleural line */
    RV_PF_NODULE,            /* small round opacity */
    RV_PF_MASS,              /* large lobulated opacity */
    RV_PF_CONSOLIDATION,     /* patchy airspace opacity in one zone */
    RV_PF_ATELECTASIS,       /* plate-like basal opacity */
    RV_PF_EDEMA,             /* bilateral perihilar haze (two boxes) */
    RV_PF_ETT,               /* endotracheal tube: paired bright lines in the trachea */
    RV_PF_CENTRAL_LINE,      /* central venous line: thin bright curve into the SVC */
    RV_PF_RIB_FRACTURE,      /* a gap with a step in one rib */
    RV_PF_PLEURAL_THICKENING,/* band along the lateral chest wall */
    RV_PF_AORTIC_ENLARGEMENT,/* enlarged aortic knob */
    RV_PF_KIND_COUNT
} rv_pf_kind;

/* Patient side. */
typedef enum { RV_SIDE_RIGHT = 0, RV_SIDE_LEFT = 1, RV_SIDE_BOTH = 2 } rv_side;

typedef struct rv_pbox {
    double x0, y0, x1, y1; /* pixels, inclusive-exclusive extent of the drawn pixels */
} rv_pbox;

typedef struct rv_pf_request {
    rv_pf_kind kind;
    int side;        /* rv_side, or -1 = random */
    int zone;        /* lung zone for focal lesions: 0 upper, 1 mid, 2 lower, -1 random */
    double severity; /* 0..1 (size / density); < 0 = random */
} rv_pf_request;

typedef struct rv_pfinding {
    rv_pf_kind kind;
    rv_side side;
    int zone;
    double severity;
    int nbox;
    rv_pbox box[2];   /* tight boxes of the drawn finding (edema: one per side) */
    /* shape parameters (pixels) */
    double cx, cy, rx, ry, angle, level, aux;
    int rib;
} rv_pfinding;

#define RV_PHANTOM_MAX_FIND 8
#define RV_PHANTOM_MAX_REGIONS 36

typedef struct rv_pregion {
    const char *name; /* Chest ImaGenome bbox_name (lower case) */
    rv_pbox box;
} rv_pregion;

typedef struct rv_phantom {
    int width, height;
    /* anatomy (pixels) */
    double mx;             /* midline */
    double thorax_hw;      /* half-width of the thoracic cage (inner rib margin) */
    double body_hw;        /* half-width of the soft tissue outline */
    double apex_y;         /* lung apices */
    double cp_y;           /* costophrenic angles */
    double dome_y[2];      /* hemidiaphragm dome tops: [right, left] */
    double lung_cx[2], lung_rx;
    double heart_cx, heart_cy, heart_rx, heart_ry; /* cardiac ellipse */
    double ctr;            /* cardiothoracic ratio */
    double knob_cx, knob_cy, knob_r;  /* aortic knob */
    double carina_y;
    double med_hw;         /* upper mediastinum half-width */
    double hilum_y;
    double rib_y0, rib_dy; /* posterior rib i at the spine: rib_y0 + i * rib_dy */
    int nribs;
    bool has_fracture;
    /* image appearance */
    double soft, lung, bone, air;  /* base intensities 0..1 */
    double contrast, brightness, gamma, noise_sigma, marking_amp;
    uint64_t texture_key;          /* seed of the lung-marking texture */
    int nfind;
    rv_pfinding find[RV_PHANTOM_MAX_FIND];
    int nregion;
    rv_pregion region[RV_PHANTOM_MAX_REGIONS];
} rv_phantom;

/* Short lower-case name of a finding kind ("pleural effusion", ...). */
const char *rv_pf_kind_name(rv_pf_kind k);

/* Plans a phantom: anatomy from r, then each requested finding placed and its boxes measured,
 * then the anatomical regions (all 36 ImaGenome names; callers pick a subset). Findings whose
 * side conflicts (two pneumothoraces on one side, ...) are still drawn; the caller chooses. */
int rv_phantom_plan(rv_phantom *p, rv_rng *r, int width, int height, const rv_pf_request *req, int nreq,
                    rv_err *err);

/* Renders the planned phantom into out (width*height floats in 0..1, bright = dense);
 * r supplies the texture and noise. */
void rv_phantom_render(const rv_phantom *p, rv_rng *r, float *out);

/* A lateral view of the same patient (anatomy only; findings are not drawn). */
void rv_phantom_render_lateral(const rv_phantom *p, rv_rng *r, float *out);

/* Quantises to an image: bits 8 (0..255) or 16 with values 0..maxval; invert for
 * MONOCHROME1 storage (bone dark). img is allocated. */
int rv_phantom_quantize(const rv_phantom *p, const float *px, int bits, int maxval, bool invert, rv_image *img,
                        rv_err *err);

/* Index of the region with this name, or -1. */
int rv_phantom_region(const rv_phantom *p, const char *name);

#endif
