/* Chest X-ray phantom (see phantom.h). Intensities are "brightness" in 0..1 as on a displayed
 * radiograph: air dark, lung dark grey with vessel markings, soft tissue mid grey, bone and
 * devices bright. Findings either change the anatomy (cardiomegaly, aortic knob), blend a
 * masked region toward soft-tissue density (opacities), toward air without markings
 * (pneumothorax), or add thin bright lines (devices). Boxes are measured from the same masks
 * that are drawn, so they always agree with the pixels. */
#include "data/synth/phantom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PF_PI 3.14159265358979323846

static const char *const kind_names[RV_PF_KIND_COUNT] = {
    "cardiomegaly", "pleural effusion", "pneumothorax", "nodule", "mass", "consolidation", "atelectasis",
    "edema", "endotracheal tube", "central venous line", "rib fracture", "pleural thickening",
    "aortic enlargement"};

const char *rv_pf_kind_name(rv_pf_kind k) { return (unsigned)k < RV_PF_KIND_COUNT ? kind_names[k] : "?"; }

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }
static double smooth01(double t) {
    t = clampd(t, 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}
/* 1 inside (d < -w), 0 outside (d > w): soft edge of half-width w pixels around d = 0. */
static double soft_inside(double d, double w) { return 1.0 - smooth01((d + w) / (2.0 * w)); }

/* ---- texture: value noise from an integer hash (independent of drawing order) ---- */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double hash01(uint64_t key, int ix, int iy) {
    uint64_t h = mix64(key ^ mix64(((uint64_t)(uint32_t)ix << 32) | (uint32_t)iy));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
static double value_noise(uint64_t key, double x, double y) {
    int ix = (int)floor(x), iy = (int)floor(y);
    double fx = smooth01(x - ix), fy = smooth01(y - iy);
    double a = hash01(key, ix, iy), b = hash01(key, ix + 1, iy);
    double c = hash01(key, ix, iy + 1), d = hash01(key, ix + 1, iy + 1);
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

/* ---- anatomy ---- */
static double side_sign(int s) { return s == RV_SIDE_RIGHT ? -1.0 : 1.0; } /* image x direction */

static double dome_at(const rv_phantom *p, int s, double x) {
    double t = (x - p->lung_cx[s]) / p->lung_rx;
    return p->dome_y[s] + (p->cp_y - p->dome_y[s]) * t * t;
}

static double med_hw_at(const rv_phantom *p, double y) {
    double t = clampd((y - p->apex_y) / (p->cp_y - p->apex_y), 0, 1);
    return p->med_hw * (1.0 + 0.35 * t);
}

static bool in_heart(const rv_phantom *p, double x, double y) {
    double dx = (x - p->heart_cx) / p->heart_rx, dy = (y - p->heart_cy) / p->heart_ry;
    return dx * dx + dy * dy <= 1.0;
}

static bool in_knob(const rv_phantom *p, double x, double y) {
    double dx = x - p->knob_cx, dy = y - p->knob_cy;
    return dx * dx + dy * dy <= p->knob_r * p->knob_r;
}

/* The lung field of side s before findings (lucent region inside ribs above the diaphragm). */
static bool in_lung_side(const rv_phantom *p, int s, double x, double y) {
    if (y > p->cp_y || y < p->apex_y) return false;
    double dx = (x - p->lung_cx[s]) / p->lung_rx, dy = (y - p->cp_y) / (p->cp_y - p->apex_y);
    if (dx * dx + dy * dy > 1.0) return false;
    if (y > dome_at(p, s, x)) return false;
    if (fabs(x - p->mx) < med_hw_at(p, y)) return false;
    if (in_heart(p, x, y) || in_knob(p, x, y)) return false;
    return true;
}

static int lung_side_of(const rv_phantom *p, double x) { return x < p->mx ? RV_SIDE_RIGHT : RV_SIDE_LEFT; }

/* Horizontal extent [lo, hi] of the lung ellipse of side s at height y (0 if none). */
static int lung_span(const rv_phantom *p, int s, double y, double *lo, double *hi) {
    double dy = (y - p->cp_y) / (p->cp_y - p->apex_y);
    if (dy > 0 || dy < -1) return 0;
    double half = p->lung_rx * sqrt(1.0 - dy * dy);
    *lo = p->lung_cx[s] - half;
    *hi = p->lung_cx[s] + half;
    /* medial limit: mediastinum (and heart on the left) */
    double med = p->mx + side_sign(s) * (med_hw_at(p, y) + 2);
    if (s == RV_SIDE_RIGHT) *hi = fmin(*hi, med);
    else *lo = fmax(*lo, med);
    return *hi > *lo;
}

/* Posterior rib i of side s: centre line height at image x. */
static double rib_center(const rv_phantom *p, int s, int i, double x) {
    (void)s;
    double d = fabs(x - p->mx) / p->thorax_hw;
    double y0 = p->rib_y0 + i * p->rib_dy;
    return y0 - 0.02 * p->height * d + 0.10 * p->height * d * d;
}

/* ---- findings: masks in 0..1 ---- */
static double lobulated_radius(const rv_pfinding *f, double ang, double amp) {
    return 1.0 + amp * (0.6 * sin(3 * ang + f->aux) + 0.4 * sin(5 * ang + 2.3 * f->aux));
}

static double dist_seg(double px, double py, double ax, double ay, double bx, double by) {
    double vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
    double l2 = vx * vx + vy * vy;
    double t = l2 > 0 ? clampd((wx * vx + wy * vy) / l2, 0, 1) : 0;
    double dx = wx - t * vx, dy = wy - t * vy;
    return sqrt(dx * dx + dy * dy);
}

/* Central line: quadratic Bezier through (cx,cy) control; endpoints kept in rx/ry/level/aux. */
static void bezier(const rv_pfinding *f, double t, double *x, double *y) {
    /* P0 = (rx, ry) entry, P1 = (cx, cy), P2 = (level, aux) tip */
    double u = 1 - t;
    *x = u * u * f->rx + 2 * u * t * f->cx + t * t * f->level;
    *y = u * u * f->ry + 2 * u * t * f->cy + t * t * f->aux;
}

static double finding_mask(const rv_phantom *p, const rv_pfinding *f, double x, double y) {
    const double W = p->width, H = p->height;
    switch (f->kind) {
    case RV_PF_EFFUSION: {
        if (!in_lung_side(p, f->side, x, y) && !(y <= p->cp_y + 2 && y > dome_at(p, f->side, x) - 1 &&
                                                  in_lung_side(p, f->side, x, dome_at(p, f->side, x) - 2)))
            return 0;
        /* meniscus: the fluid line rises toward the lateral chest wall */
        double lo, hi;
        if (!lung_span(p, f->side, f->level, &lo, &hi)) return 0;
        double lat = f->side == RV_SIDE_RIGHT ? lo : hi, med = f->side == RV_SIDE_RIGHT ? hi : lo;
        double t = clampd((x - med) / (lat - med), 0, 1);
        double line = f->level - f->aux * pow(t, 1.5);
        return soft_inside(line - y, 2.0);
    }
    case RV_PF_PNEUMOTHORAX: {
        if (!in_lung_side(p, f->side, x, y)) return 0;
        if (y > f->level) return 0;
        /* rim between the chest wall and the collapsed lung's edge (inset ellipse) */
        double ry = p->cp_y - p->apex_y;
        double dx = (x - p->lung_cx[f->side]) / (p->lung_rx - f->rx);
        double dy = (y - p->cp_y) / (ry - f->rx);
        double in = dx * dx + dy * dy; /* > 1 outside the collapsed lung */
        double fade = soft_inside(y - f->level, 3.0);
        return in > 1.0 ? fade : 0.0;
    }
    case RV_PF_NODULE:
    case RV_PF_MASS: {
        double dx = x - f->cx, dy = y - f->cy;
        double r = sqrt(dx * dx + dy * dy);
        double R = f->rx * lobulated_radius(f, atan2(dy, dx), f->kind == RV_PF_MASS ? 0.12 : 0.04);
        return soft_inside(r - R, 1.5);
    }
    case RV_PF_CONSOLIDATION: {
        if (!in_lung_side(p, f->side, x, y)) return 0;
        double dx = (x - f->cx) / f->rx, dy = (y - f->cy) / f->ry;
        double r = sqrt(dx * dx + dy * dy);
        double R = lobulated_radius(f, atan2(dy, dx), 0.25);
        double patch = 0.75 + 0.25 * value_noise((uint64_t)(f->aux * 1e6), x / (0.04 * W), y / (0.04 * H));
        return soft_inside((r - R) * f->rx, 3.0) * patch;
    }
    case RV_PF_ATELECTASIS: {
        if (!in_lung_side(p, f->side, x, y)) return 0;
        double c = cos(f->angle), s = sin(f->angle);
        double u = ((x - f->cx) * c + (y - f->cy) * s) / f->rx;
        double v = (-(x - f->cx) * s + (y - f->cy) * c) / f->ry;
        double r = sqrt(u * u + v * v);
        return soft_inside((r - 1.0) * f->ry, 1.5);
    }
    case RV_PF_EDEMA: {
        int s = lung_side_of(p, x);
        if (!in_lung_side(p, s, x, y)) return 0;
        double hx = p->mx + side_sign(s) * (p->med_hw + 0.06 * W);
        double dx = (x - hx) / f->rx, dy = (y - p->hilum_y) / f->ry;
        double r = sqrt(dx * dx + dy * dy);
        return (1.0 - smooth01((r - 0.6) / 0.4)) * (0.8 + 0.2 * value_noise(7, x / (0.02 * W), y / (0.02 * H)));
    }
    case RV_PF_PLEURAL_THICKENING: {
        if (!in_lung_side(p, f->side, x, y) || y < f->cy - f->ry || y > f->cy + f->ry) return 0;
        double lo, hi;
        if (!lung_span(p, f->side, y, &lo, &hi)) return 0;
        double d = f->side == RV_SIDE_RIGHT ? x - lo : hi - x; /* distance from the chest wall */
        return soft_inside(d - f->rx, 1.0) * soft_inside(fabs(y - f->cy) - f->ry + 3, 3.0);
    }
    case RV_PF_ETT: {
        if (y > f->level + 1) return 0;
        double d = fmin(fabs(x - (f->cx - f->rx)), fabs(x - (f->cx + f->rx)));
        double tip = y > f->level - 2 && fabs(x - f->cx) <= f->rx ? 1.0 : 0.0;
        return fmax(soft_inside(d - 0.8, 0.7), tip);
    }
    case RV_PF_CENTRAL_LINE: {
        double best = 1e9, ax, ay, bx, by;
        bezier(f, 0, &ax, &ay);
        for (int k = 1; k <= 24; k++) {
            bezier(f, k / 24.0, &bx, &by);
            double d = dist_seg(x, y, ax, ay, bx, by);
            if (d < best) best = d;
            ax = bx;
            ay = by;
        }
        return soft_inside(best - 1.0, 0.7);
    }
    case RV_PF_RIB_FRACTURE: {
        /* the visible defect: the rib band around the gap */
        double yc = rib_center(p, f->side, f->rib, x);
        if (fabs(x - f->cx) > f->rx || fabs(y - yc) > 0.012 * H + 2) return 0;
        return 1.0;
    }
    case RV_PF_CARDIOMEGALY:
        return in_heart(p, x, y) && y <= fmax(p->dome_y[0], p->dome_y[1]) + 0.02 * H ? 1.0 : 0.0;
    case RV_PF_AORTIC_ENLARGEMENT:
        return in_knob(p, x, y) ? 1.0 : 0.0;
    default:
        return 0;
    }
}

/* Conservative pixel window that contains a finding's mask. */
static rv_pbox finding_bounds(const rv_phantom *p, const rv_pfinding *f) {
    const double W = p->width, H = p->height;
    rv_pbox b = {0, 0, W, H};
    double lx0 = f->side == RV_SIDE_RIGHT ? 0 : p->mx, lx1 = f->side == RV_SIDE_RIGHT ? p->mx : W;
    switch (f->kind) {
    case RV_PF_EFFUSION: b = (rv_pbox){lx0, f->level - f->aux - 4, lx1, p->cp_y + 3}; break;
    case RV_PF_PNEUMOTHORAX: b = (rv_pbox){lx0, p->apex_y - 2, lx1, f->level + 4}; break;
    case RV_PF_NODULE:
    case RV_PF_MASS: {
        double r = f->rx * 1.3 + 3;
        b = (rv_pbox){f->cx - r, f->cy - r, f->cx + r, f->cy + r};
        break;
    }
    case RV_PF_CONSOLIDATION: b = (rv_pbox){f->cx - 1.4 * f->rx - 4, f->cy - 1.4 * f->ry - 4, f->cx + 1.4 * f->rx + 4, f->cy + 1.4 * f->ry + 4}; break;
    case RV_PF_ATELECTASIS: {
        double r = f->rx + f->ry + 3;
        b = (rv_pbox){f->cx - r, f->cy - r, f->cx + r, f->cy + r};
        break;
    }
    case RV_PF_EDEMA: b = (rv_pbox){0, p->hilum_y - f->ry - 3, W, p->hilum_y + f->ry + 3}; break;
    case RV_PF_PLEURAL_THICKENING: b = (rv_pbox){lx0, f->cy - f->ry - 1, lx1, f->cy + f->ry + 1}; break;
    case RV_PF_ETT: b = (rv_pbox){f->cx - f->rx - 4, 0, f->cx + f->rx + 4, f->level + 2}; break;
    case RV_PF_CENTRAL_LINE:
        b = (rv_pbox){fmin(f->rx, fmin(f->cx, f->level)) - 3, fmin(f->ry, fmin(f->cy, f->aux)) - 3,
                      fmax(f->rx, fmax(f->cx, f->level)) + 3, fmax(f->ry, fmax(f->cy, f->aux)) + 3};
        break;
    case RV_PF_RIB_FRACTURE: b = (rv_pbox){f->cx - f->rx - 1, 0, f->cx + f->rx + 1, H}; break;
    case RV_PF_CARDIOMEGALY:
        b = (rv_pbox){p->heart_cx - p->heart_rx - 1, p->heart_cy - p->heart_ry - 1, p->heart_cx + p->heart_rx + 1,
                      p->heart_cy + p->heart_ry + 1};
        break;
    case RV_PF_AORTIC_ENLARGEMENT:
        b = (rv_pbox){p->knob_cx - p->knob_r - 1, p->knob_cy - p->knob_r - 1, p->knob_cx + p->knob_r + 1,
                      p->knob_cy + p->knob_r + 1};
        break;
    default: break;
    }
    b.x0 = clampd(floor(b.x0), 0, W);
    b.y0 = clampd(floor(b.y0), 0, H);
    b.x1 = clampd(ceil(b.x1), 0, W);
    b.y1 = clampd(ceil(b.y1), 0, H);
    return b;
}

/* Tight boxes of the pixels where the mask exceeds one third (edema: split at the midline). */
static void measure(const rv_phantom *p, rv_pfinding *f) {
    rv_pbox w = finding_bounds(p, f);
    int parts = f->kind == RV_PF_EDEMA ? 2 : 1;
    double bx0[2] = {1e9, 1e9}, by0[2] = {1e9, 1e9}, bx1[2] = {-1, -1}, by1[2] = {-1, -1};
    for (int y = (int)w.y0; y < (int)w.y1; y++)
        for (int x = (int)w.x0; x < (int)w.x1; x++) {
            if (finding_mask(p, f, x + 0.5, y + 0.5) <= 0.34) continue;
            int k = parts == 2 && x + 0.5 >= p->mx ? 1 : 0;
            if (x < bx0[k]) bx0[k] = x;
            if (y < by0[k]) by0[k] = y;
            if (x + 1 > bx1[k]) bx1[k] = x + 1;
            if (y + 1 > by1[k]) by1[k] = y + 1;
        }
    f->nbox = 0;
    for (int k = 0; k < parts; k++)
        if (bx1[k] > bx0[k] && by1[k] > by0[k]) f->box[f->nbox++] = (rv_pbox){bx0[k], by0[k], bx1[k], by1[k]};
}

/* ---- planning ---- */
static int pick_side(rv_rng *r, int want) { return want >= 0 && want <= 1 ? want : (int)rv_rng_below(r, 2); }

/* A point inside the lung of side s, in zone z, at fraction t across the span from the wall. */
static int place_in_lung(const rv_phantom *p, rv_rng *r, int s, int z, double margin, double *cx, double *cy) {
    double L = p->cp_y - p->apex_y;
    static const double zlo[3] = {0.14, 0.40, 0.64}, zhi[3] = {0.34, 0.60, 0.80};
    for (int tries = 0; tries < 40; tries++) {
        double y = p->apex_y + L * rv_rng_range(r, zlo[z], zhi[z]);
        double lo, hi;
        if (!lung_span(p, s, y, &lo, &hi) || hi - lo < 2 * margin + 4) continue;
        double x = rv_rng_range(r, lo + margin, hi - margin);
        if (in_lung_side(p, s, x, y) && in_lung_side(p, s, x - margin * 0.7, y) && in_lung_side(p, s, x + margin * 0.7, y)) {
            *cx = x;
            *cy = y;
            return 0;
        }
    }
    /* fallback: middle of the lung span at mid height */
    double y = p->apex_y + L * 0.5, lo = 0, hi = 0;
    lung_span(p, s, y, &lo, &hi);
    *cx = 0.5 * (lo + hi);
    *cy = y;
    return 0;
}

static void plan_anatomy(rv_phantom *p, rv_rng *r, int W, int H) {
    p->width = W;
    p->height = H;
    p->mx = W * (0.5 + rv_rng_range(r, -0.02, 0.02));
    p->thorax_hw = W * rv_rng_range(r, 0.36, 0.42);
    p->body_hw = p->thorax_hw + W * rv_rng_range(r, 0.04, 0.07);
    p->apex_y = H * rv_rng_range(r, 0.08, 0.13);
    p->cp_y = H * rv_rng_range(r, 0.76, 0.84);
    p->dome_y[0] = H * rv_rng_range(r, 0.60, 0.66);
    p->dome_y[1] = p->dome_y[0] + H * rv_rng_range(r, 0.01, 0.04);
    p->lung_rx = 0.49 * p->thorax_hw;
    p->lung_cx[0] = p->mx - 0.51 * p->thorax_hw;
    p->lung_cx[1] = p->mx + 0.51 * p->thorax_hw;
    p->med_hw = W * rv_rng_range(r, 0.045, 0.06);
    p->ctr = rv_rng_range(r, 0.40, 0.48);
    p->heart_ry = H * rv_rng_range(r, 0.12, 0.15);
    p->heart_cy = p->dome_y[1] - 0.25 * p->heart_ry;
    p->knob_r = W * rv_rng_range(r, 0.028, 0.036);
    p->knob_cx = p->mx + p->med_hw + 0.3 * p->knob_r;
    p->knob_cy = p->apex_y + (p->cp_y - p->apex_y) * rv_rng_range(r, 0.22, 0.28);
    p->carina_y = p->knob_cy + H * rv_rng_range(r, 0.03, 0.05);
    p->hilum_y = p->carina_y + H * rv_rng_range(r, 0.06, 0.09);
    p->nribs = 10;
    p->rib_y0 = p->apex_y - 0.02 * H;
    p->rib_dy = (p->dome_y[0] - p->rib_y0) / 9.5;
    p->soft = rv_rng_range(r, 0.50, 0.58);
    p->lung = rv_rng_range(r, 0.14, 0.22);
    p->bone = rv_rng_range(r, 0.08, 0.12);
    p->air = rv_rng_range(r, 0.02, 0.05);
    p->contrast = rv_rng_range(r, 0.85, 1.15);
    p->brightness = rv_rng_range(r, -0.04, 0.04);
    p->gamma = rv_rng_range(r, 0.8, 1.25);
    p->noise_sigma = rv_rng_range(r, 0.004, 0.02);
    p->marking_amp = rv_rng_range(r, 0.04, 0.08);
    p->texture_key = rv_rng_u64(r);
}

/* Heart ellipse from the cardiothoracic ratio (right border 35%, left 65% of its width). */
static void set_heart(rv_phantom *p) {
    double width = p->ctr * 2.0 * p->thorax_hw;
    p->heart_rx = width / 2;
    p->heart_cx = p->mx - 0.35 * width + p->heart_rx;
}

static void plan_finding(rv_phantom *p, rv_rng *r, const rv_pf_request *q, rv_pfinding *f) {
    const double W = p->width, H = p->height;
    memset(f, 0, sizeof *f);
    f->kind = q->kind;
    f->severity = q->severity >= 0 ? clampd(q->severity, 0, 1) : rv_rng_uniform(r);
    f->side = (rv_side)pick_side(r, q->side);
    f->zone = q->zone >= 0 && q->zone <= 2 ? q->zone : (int)rv_rng_below(r, 3);
    f->aux = rv_rng_range(r, 0, 2 * PF_PI);
    double sev = f->severity;
    switch (f->kind) {
    case RV_PF_EFFUSION: {
        double L = p->cp_y - p->dome_y[f->side];
        f->level = p->cp_y - L * (0.35 + 0.5 * sev) - 0.02 * H;
        f->aux = 0.05 * H * (0.6 + 0.4 * sev); /* meniscus rise */
        break;
    }
    case RV_PF_PNEUMOTHORAX:
        f->rx = p->lung_rx * (0.10 + 0.12 * sev); /* rim width */
        f->level = p->apex_y + (p->cp_y - p->apex_y) * (0.45 + 0.2 * sev);
        break;
    case RV_PF_NODULE:
        f->rx = W * (0.012 + 0.010 * sev);
        place_in_lung(p, r, f->side, f->zone, f->rx + 3, &f->cx, &f->cy);
        break;
    case RV_PF_MASS:
        f->rx = W * (0.032 + 0.025 * sev);
        place_in_lung(p, r, f->side, f->zone, f->rx * 0.8, &f->cx, &f->cy);
        break;
    case RV_PF_CONSOLIDATION:
        f->rx = W * (0.06 + 0.05 * sev);
        f->ry = H * (0.05 + 0.04 * sev);
        place_in_lung(p, r, f->side, f->zone, f->rx * 0.5, &f->cx, &f->cy);
        break;
    case RV_PF_ATELECTASIS:
        f->zone = 2;
        f->rx = W * (0.06 + 0.04 * sev);
        f->ry = H * (0.008 + 0.008 * sev);
        f->angle = side_sign(f->side) * rv_rng_range(r, 0.05, 0.3);
        place_in_lung(p, r, f->side, 2, f->rx * 0.6, &f->cx, &f->cy);
        break;
    case RV_PF_EDEMA:
        f->side = RV_SIDE_BOTH;
        f->rx = W * (0.16 + 0.06 * sev);
        f->ry = H * (0.16 + 0.05 * sev);
        break;
    case RV_PF_PLEURAL_THICKENING:
        f->rx = W * (0.008 + 0.008 * sev);
        f->ry = H * (0.06 + 0.05 * sev);
        f->cy = p->apex_y + (p->cp_y - p->apex_y) * rv_rng_range(r, 0.35, 0.7);
        break;
    case RV_PF_ETT:
        f->side = RV_SIDE_BOTH;
        f->cx = p->mx + rv_rng_range(r, -0.004, 0.004) * W;
        f->rx = W * 0.007 + 1.0;
        f->level = p->carina_y - H * rv_rng_range(r, 0.03, 0.07); /* tip above the carina */
        break;
    case RV_PF_CENTRAL_LINE: {
        double sg = side_sign(f->side);
        f->rx = p->mx + sg * W * rv_rng_range(r, 0.26, 0.33); /* entry (subclavian) */
        f->ry = H * rv_rng_range(r, 0.12, 0.17);
        f->cx = p->mx + sg * W * rv_rng_range(r, 0.08, 0.12); /* control */
        f->cy = f->ry + H * 0.03;
        f->level = p->mx - W * rv_rng_range(r, 0.02, 0.04); /* tip in the SVC */
        f->aux = p->hilum_y + H * rv_rng_range(r, -0.02, 0.03);
        break;
    }
    case RV_PF_RIB_FRACTURE:
        f->rib = 3 + (int)rv_rng_below(r, 5);
        f->rx = W * 0.012 + 1;
        f->cx = p->mx + side_sign(f->side) * p->thorax_hw * rv_rng_range(r, 0.55, 0.8);
        f->cy = rib_center(p, f->side, f->rib, f->cx);
        break;
    case RV_PF_CARDIOMEGALY:
        f->side = RV_SIDE_BOTH;
        p->ctr = 0.53 + 0.10 * sev;
        set_heart(p);
        break;
    case RV_PF_AORTIC_ENLARGEMENT:
        f->side = RV_SIDE_LEFT;
        p->knob_r = W * (0.045 + 0.015 * sev);
        break;
    default: break;
    }
}

/* ---- regions (Chest ImaGenome names) ---- */
static void add_region(rv_phantom *p, const char *name, double x0, double y0, double x1, double y1) {
    if (p->nregion >= RV_PHANTOM_MAX_REGIONS) return;
    rv_pregion *g = &p->region[p->nregion++];
    g->name = name;
    g->box = (rv_pbox){floor(fmin(x0, x1)), floor(fmin(y0, y1)), ceil(fmax(x0, x1)), ceil(fmax(y0, y1))};
}

static void lung_bbox(const rv_phantom *p, int s, rv_pbox *b) {
    double x0 = 1e9, x1 = -1, y0 = 1e9, y1 = -1;
    int step = 2;
    for (int y = (int)p->apex_y - 1; y <= (int)p->cp_y + 1; y += step)
        for (int x = 0; x < p->width; x += step)
            if (in_lung_side(p, s, x + 0.5, y + 0.5)) {
                if (x < x0) x0 = x;
                if (x + step > x1) x1 = x + step;
                if (y < y0) y0 = y;
                if (y + step > y1) y1 = y + step;
            }
    *b = (rv_pbox){x0, y0, x1, y1};
}

static void plan_regions(rv_phantom *p) {
    const double W = p->width, H = p->height, mx = p->mx;
    static const char *const zname[2][6] = {
        {"right lung", "right upper lung zone", "right mid lung zone", "right lower lung zone", "right apical zone",
         "right hilar structures"},
        {"left lung", "left upper lung zone", "left mid lung zone", "left lower lung zone", "left apical zone",
         "left hilar structures"}};
    for (int s = 0; s < 2; s++) {
        rv_pbox b;
        lung_bbox(p, s, &b);
        double h = b.y1 - b.y0;
        add_region(p, zname[s][0], b.x0, b.y0, b.x1, b.y1);
        add_region(p, zname[s][1], b.x0, b.y0, b.x1, b.y0 + h / 3);
        add_region(p, zname[s][2], b.x0, b.y0 + h / 3, b.x1, b.y0 + 2 * h / 3);
        add_region(p, zname[s][3], b.x0, b.y0 + 2 * h / 3, b.x1, b.y1);
        add_region(p, zname[s][4], b.x0 + 0.15 * (b.x1 - b.x0), b.y0, b.x1 - 0.1 * (b.x1 - b.x0), b.y0 + 0.16 * h);
        double hx = mx + side_sign(s) * (p->med_hw + 0.05 * W);
        add_region(p, zname[s][5], hx - 0.055 * W, p->hilum_y - 0.07 * H, hx + 0.055 * W, p->hilum_y + 0.07 * H);
        double lat = s == 0 ? b.x0 : b.x1;
        add_region(p, s == 0 ? "right costophrenic angle" : "left costophrenic angle", lat, p->cp_y - 0.07 * H,
                   lat - side_sign(s) * 0.08 * W, p->cp_y + 0.01 * H);
        add_region(p, s == 0 ? "right hemidiaphragm" : "left hemidiaphragm", lat, p->dome_y[s] - 0.02 * H,
                   mx + side_sign(s) * p->med_hw, p->cp_y + 0.01 * H);
        double hb = s == 0 ? p->heart_cx - p->heart_rx : p->heart_cx + p->heart_rx; /* heart border */
        add_region(p, s == 0 ? "right cardiophrenic angle" : "left cardiophrenic angle", hb - 0.035 * W,
                   p->dome_y[s] - 0.045 * H, hb + 0.035 * W, p->dome_y[s] + 0.02 * H);
        /* clavicle band, from near the midline up and out */
        double cx0 = mx + side_sign(s) * 0.05 * W, cx1 = mx + side_sign(s) * 0.34 * W;
        add_region(p, s == 0 ? "right clavicle" : "left clavicle", cx0, p->apex_y + 0.035 * H - 0.015 * H, cx1,
                   p->apex_y + 0.105 * H + 0.015 * H);
        add_region(p, s == 0 ? "right upper abdomen" : "left upper abdomen", mx, p->dome_y[s], lat,
                   fmin(H, p->cp_y + 0.12 * H));
    }
    double top = p->apex_y, hx0 = p->heart_cx - p->heart_rx, hx1 = p->heart_cx + p->heart_rx;
    double hy0 = p->heart_cy - p->heart_ry, hy1 = fmin(p->heart_cy + p->heart_ry, fmax(p->dome_y[0], p->dome_y[1]) + 0.02 * H);
    add_region(p, "trachea", mx - 0.022 * W, top - 0.06 * H, mx + 0.022 * W, p->carina_y);
    add_region(p, "carina", mx - 0.03 * W, p->carina_y - 0.025 * H, mx + 0.03 * W, p->carina_y + 0.025 * H);
    add_region(p, "spine", mx - 0.045 * W, top - 0.04 * H, mx + 0.045 * W, fmin(H, p->cp_y + 0.1 * H));
    add_region(p, "aortic arch", mx - 0.01 * W, p->knob_cy - p->knob_r, p->knob_cx + p->knob_r, p->knob_cy + p->knob_r);
    add_region(p, "upper mediastinum", mx - p->med_hw, top, fmax(mx + p->med_hw, p->knob_cx + p->knob_r), hy0);
    add_region(p, "mediastinum", fmin(mx - p->med_hw, hx0), top, fmax(hx1, p->knob_cx + p->knob_r), hy1);
    add_region(p, "svc", mx - p->med_hw, p->knob_cy - 0.04 * H, mx - 0.01 * W, p->hilum_y + 0.02 * H);
    add_region(p, "cardiac silhouette", hx0, hy0, hx1, hy1);
    add_region(p, "right cardiac silhouette", hx0, hy0 + 0.2 * (hy1 - hy0), mx, hy1);
    add_region(p, "left cardiac silhouette", mx, hy0, hx1, hy1);
    add_region(p, "right atrium", hx0, p->heart_cy - 0.3 * p->heart_ry, mx - 0.01 * W, hy1);
    add_region(p, "cavoatrial junction", mx - p->med_hw, hy0 - 0.01 * H, mx - 0.01 * W, hy0 + 0.05 * H);
    add_region(p, "descending aorta", mx + 0.005 * W, p->knob_cy, mx + 0.055 * W, p->dome_y[1]);
    add_region(p, "abdomen", mx - p->thorax_hw, fmin(p->dome_y[0], p->dome_y[1]), mx + p->thorax_hw,
               fmin(H, p->cp_y + 0.15 * H));
    for (int i = 0; i < p->nregion; i++) { /* keep every box inside the image */
        rv_pbox *b = &p->region[i].box;
        b->x0 = clampd(b->x0, 0, W - 1);
        b->x1 = clampd(b->x1, b->x0 + 1, W);
        b->y0 = clampd(b->y0, 0, H - 1);
        b->y1 = clampd(b->y1, b->y0 + 1, H);
    }
}

int rv_phantom_region(const rv_phantom *p, const char *name) {
    for (int i = 0; i < p->nregion; i++)
        if (strcmp(p->region[i].name, name) == 0) return i;
    return -1;
}

int rv_phantom_plan(rv_phantom *p, rv_rng *r, int width, int height, const rv_pf_request *req, int nreq, rv_err *err) {
    memset(p, 0, sizeof *p);
    if (width < 64 || height < 64 || width > 8192 || height > 8192)
        return rv_fail(err, "phantom: image size %dx%d out of range (64..8192)", width, height);
    if (nreq < 0 || nreq > RV_PHANTOM_MAX_FIND)
        return rv_fail(err, "phantom: %d findings requested, at most %d", nreq, RV_PHANTOM_MAX_FIND);
    plan_anatomy(p, r, width, height);
    set_heart(p);
    /* geometry-changing findings first, so lesions are placed in the final lung fields */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nreq; i++) {
            bool geom = req[i].kind == RV_PF_CARDIOMEGALY || req[i].kind == RV_PF_AORTIC_ENLARGEMENT;
            if ((pass == 0) != geom) continue;
            if ((unsigned)req[i].kind >= RV_PF_KIND_COUNT) return rv_fail(err, "phantom: unknown finding kind %d", (int)req[i].kind);
            plan_finding(p, r, &req[i], &p->find[i]);
        }
    p->nfind = nreq;
    for (int i = 0; i < nreq; i++) p->has_fracture |= p->find[i].kind == RV_PF_RIB_FRACTURE;
    for (int i = 0; i < nreq; i++) measure(p, &p->find[i]);
    plan_regions(p);
    return 0;
}

/* ---- rendering ---- */
static double base_pixel(const rv_phantom *p, double x, double y) {
    const double W = p->width, H = p->height, mx = p->mx;
    double ax = fabs(x - mx);
    double bhw = p->body_hw;
    if (y < p->apex_y) bhw *= 0.45 + 0.55 * smooth01(y / p->apex_y); /* neck and shoulders */
    double body = soft_inside(ax - bhw, 3.0);
    double v = p->air + (p->soft - p->air) * body;
    if (body <= 0) return v;
    int s = lung_side_of(p, x);
    bool below = y > dome_at(p, s, x) && ax < p->thorax_hw;
    if (below) {
        v = p->soft + 0.04;
        /* gastric air bubble under the left hemidiaphragm */
        double gx = (x - (mx + 0.45 * p->thorax_hw)) / (0.05 * W), gy = (y - (p->dome_y[1] + 0.05 * H)) / (0.03 * H);
        if (s == RV_SIDE_LEFT && gx * gx + gy * gy < 1) v -= 0.18 * (1 - gx * gx - gy * gy);
    }
    if (in_lung_side(p, s, x, y)) {
        /* vessel markings: denser toward the hilum, fading to the periphery */
        double hx = mx + side_sign(s) * (p->med_hw + 0.05 * W);
        double dh = hypot((x - hx) / W, (y - p->hilum_y) / H);
        double n = 0.6 * value_noise(p->texture_key, x / (0.018 * W), y / (0.018 * H)) +
                   0.4 * value_noise(p->texture_key + 1, x / (0.007 * W), y / (0.007 * H));
        double fall = exp(-dh * 5.0);
        v = p->lung + p->marking_amp * (n - 0.3) * (0.4 + fall) + 0.12 * exp(-dh * dh * 400.0);
        /* lung edges are not razor sharp */
        v = fmin(v, p->soft);
    } else if (!below && ax < p->thorax_hw && y > p->apex_y && y < p->cp_y) {
        double dense = (in_heart(p, x, y) || in_knob(p, x, y) || ax < med_hw_at(p, y)) ? 0.10 : 0.0;
        v = p->soft + dense;
    }
    /* trachea and main bronchi: air column in the upper mediastinum */
    if (y < p->carina_y && ax < 0.018 * W) v -= 0.14 * soft_inside(ax - 0.016 * W, 1.5);
    /* spine, with vertebral end plates */
    if (ax < 0.04 * W && y > p->apex_y * 0.3) {
        double plate = fabs(fmod(y, 0.045 * H) - 0.0225 * H) < 1.0 ? 0.03 : 0.0;
        v += (0.06 + plate) * soft_inside(ax - 0.035 * W, 1.5);
    }
    /* posterior ribs */
    if (ax < p->thorax_hw * 1.04 && ax > 0.035 * W) {
        double th = 0.011 * H;
        for (int i = 0; i < p->nribs; i++) {
            double yc = rib_center(p, s, i, x);
            for (int k = 0; k < p->nfind && p->has_fracture; k++) { /* a fracture: gap plus a step */
                const rv_pfinding *f = &p->find[k];
                if (f->kind == RV_PF_RIB_FRACTURE && f->rib == i && (int)f->side == s) {
                    if (fabs(x - f->cx) < f->rx * 0.45) yc = -1e9;
                    else if (side_sign(s) * (x - f->cx) > 0) yc += 0.004 * H + 1;
                }
            }
            double d = fabs(y - yc);
            if (d < th + 1) {
                double band = soft_inside(d - th, 1.0);
                double cortex = d > th * 0.6 ? 0.35 : 0.0;
                v += p->bone * band * (0.8 + cortex);
            }
        }
    }
    /* clavicles: oblique bands from the midline up and out */
    double c0 = 0.05 * W, c1 = 0.34 * W;
    if (ax > c0 && ax < c1) {
        double t = (ax - c0) / (c1 - c0);
        double yc = p->apex_y + 0.09 * H - 0.06 * H * t;
        double d = fabs(y - yc);
        v += p->bone * 1.3 * soft_inside(d - 0.012 * H, 1.2);
    }
    return v;
}

/* Lateral view (patient facing image left): one superimposed lung field, heart anterior
 * and low, spine posterior, sternum anterior, domes below. Findings are not drawn on it. */
static double lateral_pixel(const rv_phantom *p, double x, double y) {
    const double W = p->width, H = p->height;
    double bx = (x - 0.5 * W) / (0.44 * W), by = (y - 0.55 * H) / (0.52 * H);
    double body = soft_inside((bx * bx + by * by - 1.0) * 0.2 * W, 3.0);
    double v = p->air + (p->soft - p->air) * body;
    if (body <= 0) return v;
    double lx = (x - 0.50 * W) / (0.30 * W), ly = (y - p->cp_y) / (p->cp_y - p->apex_y);
    bool lung = ly <= 0 && lx * lx + ly * ly <= 1.0 && y < p->dome_y[0] + 0.06 * H * (x / W);
    double hx = (x - 0.36 * W) / (0.16 * W * p->ctr / 0.45), hy = (y - p->heart_cy) / p->heart_ry;
    bool heart = hx * hx + hy * hy <= 1.0;
    if (lung && !heart)
        v = p->lung + 0.1 + p->marking_amp * (value_noise(p->texture_key, x / (0.02 * W), y / (0.02 * H)) - 0.5);
    else if (heart)
        v = p->soft + 0.06;
    if (fabs(x - 0.78 * W) < 0.05 * W && y > 0.1 * H) { /* vertebral bodies with disc spaces */
        double disc = fabs(fmod(y, 0.05 * H) - 0.025 * H) < 1.5 ? 0.0 : 1.0;
        v += p->bone * 1.2 * disc;
    }
    if (fabs(x - 0.13 * W - 0.05 * W * (y / H)) < 0.012 * W && y > 0.2 * H && y < 0.7 * H) v += p->bone; /* sternum */
    return v;
}

static void render_base(const rv_phantom *p, float *out, bool lateral) {
    const int W = p->width, H = p->height;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            out[(size_t)y * W + x] = (float)(lateral ? lateral_pixel(p, x + 0.5, y + 0.5) : base_pixel(p, x + 0.5, y + 0.5));
}

static void finish(const rv_phantom *p, rv_rng *r, float *out);

void rv_phantom_render_lateral(const rv_phantom *p, rv_rng *r, float *out) {
    render_base(p, out, true);
    finish(p, r, out);
}

void rv_phantom_render(const rv_phantom *p, rv_rng *r, float *out) {
    const int W = p->width;
    render_base(p, out, false);
    /* findings, each blended inside its (conservative) window */
    for (int k = 0; k < p->nfind; k++) {
        const rv_pfinding *f = &p->find[k];
        if (f->kind == RV_PF_CARDIOMEGALY || f->kind == RV_PF_AORTIC_ENLARGEMENT || f->kind == RV_PF_RIB_FRACTURE)
            continue; /* drawn through the anatomy */
        rv_pbox b = finding_bounds(p, f);
        double target, alpha;
        switch (f->kind) {
        case RV_PF_EFFUSION: target = p->soft + 0.06; alpha = 0.92; break;
        case RV_PF_PNEUMOTHORAX: target = p->lung - 0.08; alpha = 1.0; break;
        case RV_PF_NODULE: target = p->soft + 0.10; alpha = 0.55 + 0.35 * f->severity; break;
        case RV_PF_MASS: target = p->soft + 0.10; alpha = 0.85; break;
        case RV_PF_CONSOLIDATION: target = p->soft + 0.04; alpha = 0.55 + 0.3 * f->severity; break;
        case RV_PF_ATELECTASIS: target = p->soft + 0.04; alpha = 0.75; break;
        case RV_PF_EDEMA: target = p->soft; alpha = 0.30 + 0.3 * f->severity; break;
        case RV_PF_PLEURAL_THICKENING: target = p->soft + 0.06; alpha = 0.8; break;
        default: target = 1.0; alpha = 0.45; break; /* devices: bright radiopaque lines */
        }
        for (int y = (int)b.y0; y < (int)b.y1; y++)
            for (int x = (int)b.x0; x < (int)b.x1; x++) {
                double m = finding_mask(p, f, x + 0.5, y + 0.5);
                if (m <= 0) continue;
                float *o = &out[(size_t)y * W + x];
                *o = (float)(*o + alpha * m * (target - *o));
                if (f->kind == RV_PF_PNEUMOTHORAX) { /* visceral pleural line at the lung edge */
                    double m2 = finding_mask(p, f, x + 0.5 + side_sign(f->side) * 2.0, y + 0.5);
                    if (m2 < 0.5) *o = (float)(*o + 0.10);
                }
            }
    }
    finish(p, r, out);
}

static void finish(const rv_phantom *p, rv_rng *r, float *out) {
    const int W = p->width, H = p->height;
    /* mild blur (radiographs are not sharp), then exposure (gamma through a table) and noise
     * (a sum of three hashed uniforms per pixel: near-Gaussian, and cheap) */
    enum { LUT = 2048 };
    float gam[LUT + 1];
    for (int i = 0; i <= LUT; i++) gam[i] = (float)(pow((double)i / LUT, p->gamma) * p->contrast + p->brightness);
    const uint64_t nkey = rv_rng_u64(r);
    float *tmp = rv_xmalloc(sizeof(float) * (size_t)W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int x0 = x > 0 ? x - 1 : x, x1 = x < W - 1 ? x + 1 : x;
            const float *row = out + (size_t)y * W;
            tmp[(size_t)y * W + x] = 0.25f * row[x0] + 0.5f * row[x] + 0.25f * row[x1];
        }
    for (int y = 0; y < H; y++) {
        int y0 = y > 0 ? y - 1 : y, y1 = y < H - 1 ? y + 1 : y;
        for (int x = 0; x < W; x++) {
            double v = 0.25 * tmp[(size_t)y0 * W + x] + 0.5 * tmp[(size_t)y * W + x] + 0.25 * tmp[(size_t)y1 * W + x];
            v = clampd(v, 0, 1) * LUT;
            int i = (int)v;
            if (i >= LUT) i = LUT - 1;
            v = gam[i] + (v - i) * (gam[i + 1] - gam[i]);
            uint64_t h = mix64(nkey ^ ((uint64_t)y << 32 | (uint32_t)x));
            double u = (double)(h & 0x1FFFFF) + (double)((h >> 21) & 0x1FFFFF) + (double)((h >> 42) & 0x1FFFFF);
            v += p->noise_sigma * 2.0 * (u / 2097152.0 - 1.5);
            out[(size_t)y * W + x] = (float)clampd(v, 0, 1);
        }
    }
    free(tmp);
}

int rv_phantom_quantize(const rv_phantom *p, const float *px, int bits, int maxval, bool invert, rv_image *img,
                        rv_err *err) {
    if (bits == 8) maxval = 255;
    if ((bits != 8 && bits != 16) || maxval < 1 || maxval > 65535)
        return rv_fail(err, "phantom: cannot quantise to %d bits / max %d", bits, maxval);
    if (rv_image_alloc(img, p->width, p->height, bits, err) != 0) return -1;
    size_t n = (size_t)p->width * p->height;
    for (size_t i = 0; i < n; i++) {
        double v = invert ? 1.0 - px[i] : px[i];
        long q = lround(v * maxval);
        if (q < 0) q = 0;
        if (q > maxval) q = maxval;
        if (bits == 8) img->u8[i] = (uint8_t)q;
        else img->u16[i] = (uint16_t)q;
    }
    return 0;
}
