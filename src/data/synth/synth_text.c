/* Report sentences (English and Spanish), MIMIC-style line wrapping, rule-based
 * conversations, ids and CSV helpers for the phantom datasets. Wording is our own; what
 * matters is that every sentence states what the phantom draws (or explicitly does not). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/synth/synth.h"
#include "io/csv.h"
#include "io/json.h"

const char *const syn_label_names[SYN_NLABELS] = {
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices"};

static const char *pick(rv_rng *r, const char *const *v, int n) { return v[rv_rng_below(r, (uint32_t)n)]; }
#define PICK(r, ...) pick((r), (const char *const[]){__VA_ARGS__}, (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static const char *side_en(rv_side s) { return s == RV_SIDE_RIGHT ? "right" : "left"; }
static const char *zone_en(int z) { return z == 0 ? "upper" : z == 1 ? "mid" : "lower"; }
static const char *sev_en(double v) { return v < 0.4 ? "small" : v < 0.75 ? "moderate" : "large"; }
static const char *grade_en(double v) { return v < 0.4 ? "mild" : v < 0.75 ? "moderate" : "severe"; }
static const char *side_es_m(rv_side s) { return s == RV_SIDE_RIGHT ? "derecho" : "izquierdo"; }
static const char *side_es_f(rv_side s) { return s == RV_SIDE_RIGHT ? "derecha" : "izquierda"; }
static const char *zone_es(int z) { return z == 0 ? "superior" : z == 1 ? "medio" : "inferior"; }

static void cap_first(char *s) {
    if (s[0]) s[0] = (char)toupper((unsigned char)s[0]);
}

void syn_text_finding(syn_finding *o, const rv_pfinding *f, rv_rng *r) {
    const char *sd = side_en(f->side), *zn = zone_en(f->zone);
    char *en = o->en, *ph = o->phrase, *es = o->es;
    size_t ne = sizeof o->en, np = sizeof o->phrase, ns = sizeof o->es;
    bool u = o->uncertain;
    switch (f->kind) {
    case RV_PF_CARDIOMEGALY:
        if (u) snprintf(en, ne, "The heart size is borderline enlarged.");
        else snprintf(en, ne, "%s", PICK(r, "The heart is enlarged.", "Moderate cardiomegaly.", "The cardiac silhouette is enlarged."));
        snprintf(ph, np, "%s", PICK(r, "Cardiomegaly", "Enlarged cardiac silhouette"));
        snprintf(es, ns, "cardiomegalia.");
        break;
    case RV_PF_EFFUSION:
        if (u) snprintf(en, ne, "Possible small %s pleural effusion.", sd);
        else if (rv_rng_below(r, 2)) snprintf(en, ne, "%s %s pleural effusion.", sev_en(f->severity), sd);
        else snprintf(en, ne, "There is a %s %s pleural effusion with blunting of the costophrenic angle.", sev_en(f->severity), sd);
        snprintf(ph, np, "%s %s pleural effusion", sev_en(f->severity), sd);
        snprintf(es, ns, "derrame pleural %s.", side_es_m(f->side));
        break;
    case RV_PF_PNEUMOTHORAX:
        if (u) snprintf(en, ne, "Questionable small %s apical pneumothorax.", sd);
        else snprintf(en, ne, "There is a %s %s apical pneumothorax.", sev_en(f->severity), sd);
        snprintf(ph, np, "%s apical pneumothorax", sd);
        snprintf(es, ns, "neumot\xc3\xb3rax %s.", side_es_m(f->side));
        break;
    case RV_PF_NODULE: {
        if (u) snprintf(en, ne, "A possible nodule is seen in the %s %s lung zone.", sd, zn);
        else snprintf(en, ne, "A %s nodule is seen in the %s %s lung zone.", f->severity < 0.5 ? "small" : "well-defined", sd, zn);
        snprintf(ph, np, "%s %s lung nodule", sd, zn);
        snprintf(es, ns, "n\xc3\xb3" "dulo pulmonar en campo %s %s.", zone_es(f->zone), side_es_m(f->side));
        break;
    }
    case RV_PF_MASS:
        snprintf(en, ne, "There is a %s mass in the %s %s lung zone.", f->severity < 0.5 ? "lobulated" : "large lobulated", sd, zn);
        snprintf(ph, np, "%s %s lung mass", sd, zn);
        snprintf(es, ns, "masa pulmonar en campo %s %s.", zone_es(f->zone), side_es_m(f->side));
        break;
    case RV_PF_CONSOLIDATION:
        if (u) snprintf(en, ne, "Patchy opacity in the %s %s lung zone may represent pneumonia.", sd, zn);
        else snprintf(en, ne, "Focal consolidation is present in the %s %s lung zone.", sd, zn);
        snprintf(ph, np, u ? "patchy opacity in the %s %s lung zone" : "%s %s lung consolidation", sd, zn);
        snprintf(es, ns, "consolidaci\xc3\xb3n en campo %s %s.", zone_es(f->zone), side_es_m(f->side));
        break;
    case RV_PF_ATELECTASIS:
        if (u) snprintf(en, ne, "Linear opacity at the %s lung base likely reflects atelectasis.", sd);
        else snprintf(en, ne, "Plate-like atelectasis at the %s lung base.", sd);
        snprintf(ph, np, "%s basilar atelectasis", sd);
        snprintf(es, ns, "atelectasia laminar basal %s.", side_es_f(f->side));
        break;
    case RV_PF_EDEMA:
        if (u) snprintf(en, ne, "Perihilar haziness may reflect mild pulmonary edema.");
        else snprintf(en, ne, "%s pulmonary edema with perihilar haziness.", grade_en(f->severity));
        snprintf(ph, np, "pulmonary edema");
        snprintf(es, ns, "edema pulmonar.");
        break;
    case RV_PF_ETT:
        snprintf(en, ne, "Endotracheal tube terminates above the carina.");
        snprintf(ph, np, "endotracheal tube");
        snprintf(es, ns, "tubo endotraqueal.");
        break;
    case RV_PF_CENTRAL_LINE:
        snprintf(en, ne, "%s subclavian central venous catheter terminates in the SVC.", sd);
        snprintf(ph, np, "%s central venous catheter", sd);
        snprintf(es, ns, "cat\xc3\xa9ter venoso central.");
        break;
    case RV_PF_RIB_FRACTURE: {
        static const char *const ord[] = {"1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th"};
        snprintf(en, ne, "There is a fracture of the %s %s posterior rib.", sd, ord[f->rib < 10 ? f->rib : 9]);
        snprintf(ph, np, "%s rib fracture", sd);
        snprintf(es, ns, "fractura costal %s.", side_es_f(f->side));
        break;
    }
    case RV_PF_PLEURAL_THICKENING:
        snprintf(en, ne, "%s lateral pleural thickening.", sd);
        snprintf(ph, np, "%s pleural thickening", sd);
        snprintf(es, ns, "engrosamiento pleural %s.", side_es_m(f->side));
        break;
    case RV_PF_AORTIC_ENLARGEMENT:
        snprintf(en, ne, "%s", PICK(r, "The aortic knob is enlarged.", "The thoracic aorta is enlarged and tortuous."));
        snprintf(ph, np, "enlarged aortic knob");
        snprintf(es, ns, "elongaci\xc3\xb3n a\xc3\xb3rtica.");
        break;
    default: break;
    }
    cap_first(en);
    cap_first(ph);
}

void syn_join_sentences(rv_sb *b, const syn_case *c, bool spanish) {
    bool first = true;
    for (int i = 0; i < c->nfind; i++) {
        if (!first) rv_sb_putc(b, ' ');
        rv_sb_puts(b, spanish ? c->find[i].es : c->find[i].en);
        first = false;
    }
    for (int i = 0; i < c->nneg; i++) {
        if (!first) rv_sb_putc(b, ' ');
        rv_sb_puts(b, spanish ? c->neg_es[i] : c->neg_en[i]);
        first = false;
    }
}

void syn_wrap_mimic(rv_sb *out, const char *text) {
    size_t col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\n') e++;
        size_t n = (size_t)(e - p);
        if (col == 0 || col + n + 1 > 66) {
            if (col) rv_sb_putc(out, '\n');
            rv_sb_putc(out, ' ');
            col = 1;
        } else {
            rv_sb_putc(out, ' ');
            col++;
        }
        rv_sb_append(out, p, n);
        col += n;
        p = *e == '\n' ? e + 1 : e;
    }
}

/* ---- conversations ---- */
static void turn(cJSON *a, const char *from, const char *text) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "value", text);
    cJSON_AddItemToArray(a, o);
}

static bool has_kind(const syn_case *c, rv_pf_kind k) {
    for (int i = 0; i < c->nfind; i++)
        if (c->find[i].kind == k) return true;
    return false;
}

static void lower_first(char *s) {
    if (s[0] && !(s[1] && isupper((unsigned char)s[1]))) s[0] = (char)tolower((unsigned char)s[0]);
}

cJSON *syn_conversation(const syn_case *c, const char *view, const char *gender, const cJSON *sbb, rv_rng *r) {
    (void)gender;
    cJSON *a = cJSON_CreateArray();
    char buf[1200];
    /* overall impression */
    rv_sb sb;
    rv_sb_init(&sb);
    if (c->nfind == 0) {
        rv_sb_puts(&sb, "The image appears to show no clear abnormality; the lungs and heart look within normal limits.");
    } else {
        rv_sb_puts(&sb, "There appear to be some findings: ");
        for (int i = 0; i < c->nfind; i++) {
            char ph[128];
            snprintf(ph, sizeof ph, "%s", c->find[i].phrase);
            lower_first(ph);
            if (i) rv_sb_puts(&sb, i == c->nfind - 1 ? " and " : ", ");
            rv_sb_puts(&sb, ph);
        }
        rv_sb_puts(&sb, ". These impressions should be confirmed clinically.");
    }
    turn(a, "human", PICK(r, "What do you see on this chest X-ray?", "Can you describe this image?", "What are the main findings here?"));
    turn(a, "gpt", sb.s);
    rv_sb_free(&sb);
    /* view */
    if (view && *view) {
        turn(a, "human", "What kind of view is this image?");
        snprintf(buf, sizeof buf, "It appears to be a frontal chest radiograph, likely an %s view.", view);
        turn(a, "gpt", buf);
    }
    /* devices */
    bool ett = has_kind(c, RV_PF_ETT), line = has_kind(c, RV_PF_CENTRAL_LINE);
    turn(a, "human", "Are there any tubes or lines visible?");
    if (ett || line)
        snprintf(buf, sizeof buf, "Yes, there appears to be %s%s%s.", ett ? "an endotracheal tube" : "",
                 ett && line ? " and " : "", line ? "a central venous catheter" : "");
    else snprintf(buf, sizeof buf, "No support devices appear to be present.");
    turn(a, "gpt", buf);
    /* heart */
    turn(a, "human", "How does the heart size look?");
    turn(a, "gpt", has_kind(c, RV_PF_CARDIOMEGALY) ? "The heart appears enlarged." : "The heart size appears within normal limits.");
    /* pleura */
    turn(a, "human", "Is there any fluid around the lungs?");
    if (has_kind(c, RV_PF_EFFUSION)) {
        for (int i = 0; i < c->nfind; i++)
            if (c->find[i].kind == RV_PF_EFFUSION) {
                char ph[128];
                snprintf(ph, sizeof ph, "%s", c->find[i].phrase);
                lower_first(ph);
                snprintf(buf, sizeof buf, "There seems to be a %s.", ph);
                break;
            }
        turn(a, "gpt", buf);
    } else {
        turn(a, "gpt", "There does not appear to be a pleural effusion.");
    }
    /* each finding, yes/no */
    for (int i = 0; i < c->nfind && i < 3; i++) {
        char ph[128];
        snprintf(ph, sizeof ph, "%s", c->find[i].phrase);
        lower_first(ph);
        snprintf(buf, sizeof buf, "Is there evidence of %s?", ph);
        turn(a, "human", buf);
        snprintf(buf, sizeof buf, "%s", c->find[i].uncertain ? "It is possible; the appearance may suggest it, but it is not certain." : "Yes, the image appears to show it.");
        turn(a, "gpt", buf);
    }
    /* grounded questions (2-decimal boxes, as the LLM prompt shows them) */
    const cJSON *it;
    cJSON_ArrayForEach(it, sbb) {
        const cJSON *ob = cJSON_GetObjectItemCaseSensitive(it, "observation");
        const cJSON *bx = cJSON_GetObjectItemCaseSensitive(it, "box");
        if (!cJSON_IsString(ob) || !cJSON_IsArray(bx) || cJSON_GetArraySize(bx) != 4) continue;
        char ph[160];
        snprintf(ph, sizeof ph, "%s", ob->valuestring);
        lower_first(ph);
        snprintf(buf, sizeof buf, "Where is the %s located on the image?", ph);
        turn(a, "human", buf);
        double v[4];
        for (int k = 0; k < 4; k++) v[k] = cJSON_GetArrayItem(bx, k)->valuedouble;
        snprintf(buf, sizeof buf, "It appears to be located around [%.2f, %.2f, %.2f, %.2f] on the image.", v[0], v[1], v[2], v[3]);
        turn(a, "gpt", buf);
        if (cJSON_GetArraySize(a) >= 20) break;
    }
    if (cJSON_GetArraySize(a) < 10) {
        turn(a, "human", "Are the lungs clear?");
        bool lung = has_kind(c, RV_PF_CONSOLIDATION) || has_kind(c, RV_PF_ATELECTASIS) || has_kind(c, RV_PF_EDEMA) ||
                    has_kind(c, RV_PF_NODULE) || has_kind(c, RV_PF_MASS) || has_kind(c, RV_PF_PNEUMOTHORAX);
        turn(a, "gpt", lung ? "Not entirely; there appear to be some abnormal areas in the lungs." : "The lungs appear clear.");
    }
    return a;
}

/* ---- ids and CSV ---- */
void syn_hex(rv_rng *r, char *out, int n) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) out[i] = hx[rv_rng_below(r, 16)];
    out[n] = 0;
}

void syn_dicom_id(rv_rng *r, char out[45]) {
    for (int g = 0; g < 5; g++) {
        syn_hex(r, out + g * 9, 8);
        out[g * 9 + 8] = g < 4 ? '-' : 0;
    }
}

void syn_csv(rv_sb *b, const char *field, bool last) {
    rv_csv_put_field(b, field ? field : "");
    rv_sb_putc(b, last ? '\n' : ',');
}

void syn_csv_label(rv_sb *b, int v, bool last) {
    syn_csv(b, v == 1 ? "1.0" : v == 0 ? "0.0" : v == -1 ? "-1.0" : "", last);
}
