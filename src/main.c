/* radvlm-hpc: one SPMD binary; every rank runs this main and the phase chosen by --phase. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/world.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/temp_files.h"
#include "phases/phase.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: radvlm-hpc --phase PHASE [--config JOB.json] [--set key=value ...] [--run DIR]\n"
            "       radvlm-hpc --help [--phase PHASE]   |   radvlm-hpc --version\n"
            "Launch with mpirun -n N or srun for N ranks.\n\nphases:\n");
    for (const rv_phase *p = rv_phases; p->name; p++) fprintf(f, "  %-10s %s\n", p->name, p->summary);
    fprintf(f, "\nDATA_DIR (environment) or data.dir (config, wins) locates the datasets.\n"
               "Every configuration key (radvlm-hpc --help --phase PHASE shows one phase's):\n");
}

typedef struct args {
    const char *phase, *config, *run;
    const char **sets;
    int nsets, help, version;
} args;

static const char *const known_flags[] = {"--phase", "--config", "--set", "--run", "--help", "--version", NULL};

static int parse_args(int argc, char **argv, args *a, rv_err *err) {
    memset(a, 0, sizeof *a);
    a->sets = rv_xcalloc((size_t)argc, sizeof *a->sets);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) { a->help = 1; continue; }
        if (!strcmp(s, "--version")) { a->version = 1; continue; }
        if (!strcmp(s, "--phase")) slot = &a->phase;
        else if (!strcmp(s, "--config")) slot = &a->config;
        else if (!strcmp(s, "--run")) slot = &a->run;
        else if (!strcmp(s, "--set")) slot = &a->sets[a->nsets];
        else {
            const char *best = known_flags[0];
            size_t bd = (size_t)-1;
            for (int k = 0; known_flags[k]; k++) {
                size_t d = rv_edit_distance(s, known_flags[k]);
                if (d < bd) { bd = d; best = known_flags[k]; }
            }
            return rv_fail(err, "unknown argument '%s'; did you mean '%s'? (radvlm-hpc --help)", s, best);
        }
        if (i + 1 >= argc) return rv_fail(err, "%s needs a value (radvlm-hpc --help)", s);
        *slot = argv[++i];
        if (slot == &a->sets[a->nsets]) a->nsets++;
    }
    return 0;
}

static int finish(int code) {
    rv_world_finalize();
    return code;
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) { fprintf(stderr, "radvlm-hpc: MPI_Init failed\n"); return 1; }
    const rv_comm *w = rv_comm_world(); /* the phase runs on the whole job */
    rv_log_init(w->rank, w->size, RV_LOG_INFO);
    /* SIGTERM (scancel, the launcher after an abort) removes this rank's unfinished temporaries */
    if (rv_temp_cleanup_on_signals() != 0) rv_warn("cannot install the SIGTERM handler: a stopped job may leave *.tmp-* files");
    rv_err err = {{0}};
    args a;
    if (parse_args(argc, argv, &a, &err)) {
        if (w->rank == 0) fprintf(stderr, "radvlm-hpc: %s\n", err.msg);
        free(a.sets);
        return finish(2);
    }
    if (a.version || a.help) {
        if (w->rank == 0) {
            if (a.version) printf("radvlm-hpc %s (CUDA toolkit %s at build time; compute backend: cpu)\n", RADVLM_VERSION,
#ifdef RADVLM_HAVE_CUDA
                                  "found"
#else
                                  "not found"
#endif
            );
            else {
                const rv_phase *p = a.phase ? rv_phase_find(a.phase) : NULL;
                if (a.phase && !p) fprintf(stderr, "radvlm-hpc: unknown phase '%s'\n", a.phase);
                if (p) printf("radvlm-hpc --phase %s: %s\n\nkeys:\n", p->name, p->summary);
                else usage(stdout);
                char *h = rv_config_help(p ? p->cfg_prefix : "");
                fputs(h, stdout);
                free(h);
                if (p) { h = rv_config_help("data."); printf("\ncommon keys:\n%s", h); free(h); }
            }
        }
        free(a.sets);
        return finish(a.phase && !rv_phase_find(a.phase) ? 2 : 0);
    }
    const rv_phase *phase = a.phase ? rv_phase_find(a.phase) : NULL;
    if (!phase) {
        if (w->rank == 0) {
            if (a.phase) fprintf(stderr, "radvlm-hpc: unknown phase '%s'\n\n", a.phase);
            else fprintf(stderr, "radvlm-hpc: --phase is required\n\n");
            usage(stderr);
        }
        free(a.sets);
        return finish(2);
    }

    rv_config *cfg = NULL;
    int rc = rv_config_load(&cfg, a.config, a.sets, a.nsets, &err);
    free(a.sets);
    if (rc) {
        if (w->rank == 0) rv_error("%s", err.msg);
        return finish(1);
    }
    rv_log_level lvl;
    if (rv_log_level_parse(rv_cfg_str(cfg, "log.level"), &lvl) == 0) rv_log_set_level(lvl);
    double timeout_s = rv_cfg_num(cfg, "comm.timeout_s");
    if (!(timeout_s >= 0)) { /* the same value on every rank: they all stop here */
        if (w->rank == 0) rv_error("comm.timeout_s = %g: give the seconds of a collective's wait (> 0), or 0 for no limit", timeout_s);
        rv_config_free(cfg);
        return finish(1);
    }
    rv_comm_set_timeout(timeout_s);

    /* Resolve the run and data directories into the config so config.json records them. */
    if (a.run) rv_cfg_set(cfg, "run.dir", a.run, NULL);
    const char *data_dir = rv_cfg_str(cfg, "data.dir");
    if (!*data_dir && getenv("DATA_DIR")) rv_cfg_set(cfg, "data.dir", getenv("DATA_DIR"), NULL);
    if (*rv_cfg_str(cfg, "data.dir")) {
        /* Absolute, as upstream's image paths are: the JSON outputs must work from any directory. */
        char *abs = rv_path_abs(rv_cfg_str(cfg, "data.dir"));
        rv_cfg_set(cfg, "data.dir", abs, NULL);
        free(abs);
    }
    data_dir = *rv_cfg_str(cfg, "data.dir") ? rv_cfg_str(cfg, "data.dir") : NULL;
    if (phase->needs_data_dir && !data_dir) {
        if (w->rank == 0)
            rv_error("phase %s needs the datasets' directory: set the DATA_DIR environment variable or data.dir "
                     "(--set data.dir=PATH; radvlm-hpc --phase synth writes a demo one)", phase->name);
        rv_config_free(cfg);
        return finish(1);
    }
    const char *run_dir = rv_cfg_str(cfg, "run.dir");
    bool ok = true;
    if (w->rank == 0) {
        char *json = rv_config_to_json(cfg);
        char *path = rv_path_join(run_dir, "config.json");
        ok = rv_mkdir_p(run_dir, &err) == 0 && rv_write_atomic(path, json, strlen(json), &err) == 0;
        if (!ok) rv_error("%s", err.msg);
        free(json);
        free(path);
    }
    if (!rv_comm_all_ok(w, ok)) { rv_config_free(cfg); return finish(1); }

    rv_info0("radvlm-hpc %s: phase %s on %d rank%s, run %s%s%s", RADVLM_VERSION, phase->name, w->size,
             w->size == 1 ? "" : "s", run_dir, data_dir ? ", data " : "", data_dir ? data_dir : "");
    rv_phase_ctx ctx = {.cfg = cfg, .comm = w, .run_dir = run_dir, .data_dir = data_dir};
    rv_badrec_init(&ctx.bad, w, strcmp(rv_cfg_str(cfg, "data.on_bad_record"), "fail") == 0);
    rc = phase->run(&ctx, &err);
    if (rc) rv_error("%s", err.msg);
    ok = rv_comm_all_ok(w, rc == 0);
    uint64_t bad = rv_badrec_total(&ctx.bad), repeats = rv_badrec_repeats_total(&ctx.bad);
    char again[128] = "";
    if (repeats) /* the same rows met by other readers of their file: reported once */
        snprintf(again, sizeof again, "; met %llu more time%s by other readers of the same files, reported once",
                 (unsigned long long)repeats, repeats == 1 ? "" : "s");
    if (bad) rv_warn0("%llu bad input record%s reported above (data.on_bad_record=%s%s)", (unsigned long long)bad,
                      bad == 1 ? "" : "s", rv_cfg_str(cfg, "data.on_bad_record"), again);
    if (!ok) rv_log0(RV_LOG_ERROR, "phase %s failed; see the error%s above", phase->name, w->size > 1 ? "s (by rank)" : "");
    else rv_info0("phase %s done", phase->name);
    rv_config_free(cfg);
    /* Every rank returns the same status (sft's 75 is decided collectively). */
    return finish(ok ? ctx.exit_code : 1);
}
