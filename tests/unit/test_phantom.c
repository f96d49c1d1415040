/* Phantom: deterministic, boxes inside the image, and the drawn findings change the pixels
 * inside their boxes the way the finding should (compared with the mirrored normal side). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/synth/phantom.h"

static double box_mean(const float *px, int W, rv_pbox b) {
    double s = 0;
    long n = 0;
    for (int y = (int)b.y0; y < (int)b.y1; y++)
        for (int x = (int)b.x0; x < (int)b.x1; x++, n++) s += px[(size_t)y * W + x];
    return n ? s / n : 0;
}

static rv_pbox mirror(const rv_phantom *p, rv_pbox b) {
    return (rv_pbox){2 * p->mx - b.x1, b.y0, 2 * p->mx - b.x0, b.y1};
}

static float *render(rv_phantom *p, uint64_t seed, int w, int h, const rv_pf_request *q, int n) {
    rv_rng r;
    rv_err err;
    rv_rng_init(&r, seed, 7, 1);
    if (rv_phantom_plan(p, &r, w, h, q, n, &err) != 0) return NULL;
    float *px = malloc(sizeof(float) * (size_t)w * h);
    rv_phantom_render(p, &r, px);
    return px;
}

int main(void) {
    /* determinism */
    rv_pf_request q1[] = {{RV_PF_EFFUSION, RV_SIDE_RIGHT, -1, 0.7}, {RV_PF_NODULE, RV_SIDE_LEFT, 0, 0.8}};
    rv_phantom a, b;
    float *pa = render(&a, 42, 400, 460, q1, 2), *pb = render(&b, 42, 400, 460, q1, 2);
    CHECK(pa && pb && memcmp(pa, pb, sizeof(float) * 400 * 460) == 0);
    CHECK(memcmp(a.find, b.find, sizeof a.find) == 0);
    float *pc = render(&b, 43, 400, 460, q1, 2);
    CHECK(pc && memcmp(pa, pc, sizeof(float) * 400 * 460) != 0);
    free(pb);
    free(pc);

    /* effusion (patient right = image left) is brighter than the mirrored left base */
    CHECK(a.find[0].nbox == 1);
    rv_pbox eb = a.find[0].box[0];
    CHECK(eb.x1 <= a.mx); /* on the image's left half */
    double m_eff = box_mean(pa, 400, eb), m_norm = box_mean(pa, 400, mirror(&a, eb));
    CHECK(m_eff > m_norm + 0.05);
    /* nodule: centre brighter than its surroundings just outside the box */
    rv_pbox nb = a.find[1].box[0];
    CHECK(nb.x0 >= a.mx);
    double cx = 0.5 * (nb.x0 + nb.x1), cy = 0.5 * (nb.y0 + nb.y1);
    double ring = box_mean(pa, 400, (rv_pbox){nb.x1 + 2, cy - 2, nb.x1 + 6, cy + 2});
    double core = box_mean(pa, 400, (rv_pbox){cx - 1, cy - 1, cx + 2, cy + 2});
    CHECK(core > ring + 0.05);
    free(pa);

    /* pneumothorax: the lucent rim box is darker than the same place on the normal side */
    rv_pf_request q2[] = {{RV_PF_PNEUMOTHORAX, RV_SIDE_LEFT, -1, 0.9}};
    rv_phantom p2;
    float *px2 = render(&p2, 5, 420, 420, q2, 1);
    CHECK(p2.find[0].nbox == 1 && p2.find[0].box[0].x0 >= p2.mx);
    CHECK(box_mean(px2, 420, p2.find[0].box[0]) < box_mean(px2, 420, mirror(&p2, p2.find[0].box[0])) - 0.005);
    free(px2);

    /* cardiomegaly: cardiothoracic ratio measured from the box > 0.5, normal < 0.5 */
    rv_pf_request q3[] = {{RV_PF_CARDIOMEGALY, -1, -1, 0.5}};
    rv_phantom p3, p4;
    float *px3 = render(&p3, 9, 400, 400, q3, 1), *px4 = render(&p4, 9, 400, 400, NULL, 0);
    double hw = p3.find[0].box[0].x1 - p3.find[0].box[0].x0;
    CHECK(hw / (2 * p3.thorax_hw) > 0.5);
    int ci = rv_phantom_region(&p4, "cardiac silhouette");
    CHECK(ci >= 0);
    CHECK((p4.region[ci].box.x1 - p4.region[ci].box.x0) / (2 * p4.thorax_hw) < 0.5);
    free(px3);
    free(px4);

    /* every kind, several seeds: boxes non-empty and inside the image; edema has two */
    for (int k = 0; k < RV_PF_KIND_COUNT; k++)
        for (uint64_t s = 0; s < 4; s++) {
            rv_pf_request q = {(rv_pf_kind)k, -1, -1, -1};
            rv_phantom p;
            rv_rng r;
            rv_err err;
            rv_rng_init(&r, s, 3, (uint32_t)k);
            int W = 320 + (int)s * 40, H = 520 - (int)s * 30;
            CHECK(rv_phantom_plan(&p, &r, W, H, &q, 1, &err) == 0);
            CHECK(p.find[0].nbox == (k == RV_PF_EDEMA ? 2 : 1));
            for (int j = 0; j < p.find[0].nbox; j++) {
                rv_pbox x = p.find[0].box[j];
                CHECK(x.x0 >= 0 && x.y0 >= 0 && x.x1 <= W && x.y1 <= H && x.x1 > x.x0 && x.y1 > x.y0);
            }
            if (k == RV_PF_ETT) CHECK(p.find[0].box[0].y0 == 0 && p.find[0].box[0].y1 < p.carina_y);
        }

    /* regions: all 36 names, inside the image, anatomy in the right places */
    CHECK(p4.nregion == 36);
    for (int i = 0; i < p4.nregion; i++) {
        rv_pbox x = p4.region[i].box;
        CHECK(x.x0 >= 0 && x.y0 >= 0 && x.x1 <= 400 && x.y1 <= 400 && x.x1 > x.x0 && x.y1 > x.y0);
    }
    rv_pbox rl = p4.region[rv_phantom_region(&p4, "right lung")].box, ll = p4.region[rv_phantom_region(&p4, "left lung")].box;
    CHECK(rl.x1 <= ll.x0); /* patient right on the image left */
    rv_pbox tr = p4.region[rv_phantom_region(&p4, "trachea")].box;
    CHECK(tr.x0 < p4.mx && tr.x1 > p4.mx);
    rv_pbox up = p4.region[rv_phantom_region(&p4, "right upper lung zone")].box;
    rv_pbox lo = p4.region[rv_phantom_region(&p4, "right lower lung zone")].box;
    CHECK(up.y1 <= lo.y0 + 1);
    CHECK(rv_phantom_region(&p4, "no such region") == -1);

    /* quantise: MONOCHROME1 inversion maps bright to dark */
    rv_phantom p5;
    float *px5 = render(&p5, 1, 100, 100, NULL, 0);
    rv_image m1, m2;
    rv_err err;
    CHECK(rv_phantom_quantize(&p5, px5, 16, 4095, true, &m1, &err) == 0);
    CHECK(rv_phantom_quantize(&p5, px5, 16, 4095, false, &m2, &err) == 0);
    CHECK(m1.u16[5050] + m2.u16[5050] == 4095 || m1.u16[5050] + m2.u16[5050] == 4096 || m1.u16[5050] + m2.u16[5050] == 4094);
    rv_image_free(&m1);
    rv_image_free(&m2);
    free(px5);
    return check_summary("test_phantom");
}
