/* Every configuration key, its type, default and help. Sections are kept together; each
 * phase owns its section. */
#include "core/config.h"

const rv_cfg_key rv_cfg_schema[] = {
    /* ---- run ---- */
    {"run.dir", RV_CFG_STR, "runs/demo", NULL, "run directory (resolved config, outputs, checkpoints); --run DIR overrides"},
    {"run.seed", RV_CFG_INT, "1234", NULL, "seed of every random choice; results do not depend on the rank count"},
    /* ---- log ---- */
    {"log.level", RV_CFG_ENUM, "info", "debug|info|warn|error", "least severe message level printed"},
    {"log.progress_interval_s", RV_CFG_NUM, "10", NULL, "seconds between progress lines when stderr is not a terminal (Slurm)"},
    /* ---- compute ---- */
    {"compute.backend", RV_CFG_ENUM, "cpu", "cpu|cuda",
     "kernel backend (kernels.h): cpu (OpenMP + OpenBLAS, fp32, bit-deterministic); cuda is reserved and not built yet"},
    /* ---- data ---- */
    {"data.dir", RV_CFG_STR, "", NULL, "DATA_DIR holding the source datasets; wins over the DATA_DIR environment variable"},
    {"data.on_bad_record", RV_CFG_ENUM, "skip", "skip|fail", "a bad input record is counted, reported and skipped, or is fatal"},
    {"data.report_filter", RV_CFG_ENUM, "none", "none|rules",
     "when filtered_reports/ is absent: use the raw section text, or also drop statements about prior studies"},
    {"data.vindr_convert", RV_CFG_ENUM, "minmax", "minmax|voi",
     "VinDr DICOM to 8-bit: upstream min-max recipe, or VOI LUT window + MONOCHROME1 inversion"},
    {"data.templates", RV_CFG_STR, "", NULL, "instruction templates JSON file; empty = the built-in templates"},
    /* ---- synth ---- */
    {"synth.images_per_source", RV_CFG_INT, "200", NULL, "phantom images written per source dataset"},
    {"synth.tokenizer_vocab", RV_CFG_INT, "2048", NULL,
     "ids of the demo tokenizer trained on the phantom instruction set (DATA_DIR/tokenizer.json); 0 = none"},
    /* ---- instruct ---- */
    {"instruct.chestima_train_n", RV_CFG_INT, "80000", NULL, "Chest ImaGenome training cells: the first N of one shuffled pass (upstream num_samples)"},
    {"instruct.tests", RV_CFG_BOOL, "true", NULL, "also write llava/test_<task>.json for every evaluation task"},
    {"instruct.test_max.report_generation", RV_CFG_INT, "0", NULL, "cap on report_generation test cells (0 = all)"},
    {"instruct.test_max.abnormality_classification", RV_CFG_INT, "0", NULL, "cap on abnormality_classification test cells (0 = all)"},
    {"instruct.test_max.region_grounding", RV_CFG_INT, "2000", NULL, "cap on region_grounding test cells (0 = all; upstream evaluated 2,000)"},
    {"instruct.test_max.abnormality_grounding", RV_CFG_INT, "0", NULL, "cap on abnormality_grounding test cells (0 = all)"},
    {"instruct.test_max.abnormality_detection", RV_CFG_INT, "0", NULL, "cap on abnormality_detection test cells (0 = all)"},
    {"instruct.test_max.phrase_grounding", RV_CFG_INT, "0", NULL, "cap on phrase_grounding test cells (0 = all)"},
    {"instruct.test_max.conversation", RV_CFG_INT, "0", NULL, "cap on conversation test cells (0 = all)"},
    {"instruct.test_max.conversation_grounded", RV_CFG_INT, "0", NULL, "cap on conversation_grounded test cells (0 = all)"},
    /* ---- score ---- */
    {"score.input", RV_CFG_STR, "", NULL, "upstream-style *_output.json to score (array of records with output and answer/txt)"},
    {"score.task", RV_CFG_ENUM, "report_generation",
     "report_generation|abnormality_classification|region_grounding|abnormality_grounding|abnormality_detection|phrase_grounding|object_grounding",
     "task whose metrics are computed (decides the metric keys, as upstream)"},
    {"score.bootstrap_samples", RV_CFG_INT, "2000", NULL, "bootstrap resamples for the 95% intervals (0 = none)"},
    {"score.seed", RV_CFG_INT, "0", NULL, "seed of the bootstrap resampling (Philox stream; independent of the rank count)"},
    {"score.r1", RV_CFG_BOOL, "false", NULL, "reasoning outputs: score the final answer (last \\boxed{} or text after </think>) instead of the raw output"},
    /* ---- pack ---- */
    {"pack.out", RV_CFG_STR, "", NULL, "shard directory (shard-RRRRR-of-NNNNN.h5 + index.h5); empty = RUN/shards"},
    {"pack.llava_json", RV_CFG_STR, "", NULL,
     "pack existing LLaVA JSON file(s) (comma-separated, e.g. upstream's all_train.json) instead of building from DATA_DIR"},
    {"pack.llava_split", RV_CFG_ENUM, "train", "train|valid|test", "split recorded for cells of pack.llava_json (test_<task>.json files are always test)"},
    {"pack.tests", RV_CFG_BOOL, "false", NULL, "when building from DATA_DIR, also pack the evaluation sets (split = test)"},
    {"pack.image_size", RV_CFG_INT, "384", NULL, "stored image side in pixels (grey uint8, Pillow BICUBIC resize; the model's input size)"},
    {"pack.image_mode", RV_CFG_ENUM, "base", "base|anyres",
     "base: only the pack.image_size resize; anyres: also each image at its original resolution (8-bit grey), for "
     "upstream's anyres_max_9 tiles (docs/formats.md)"},
    {"pack.tokenizer", RV_CFG_STR, "", NULL,
     "Hugging Face tokenizer.json used for token ids and loss masks; empty = DATA_DIR/tokenizer.json, DATA_DIR/tokenizer/tokenizer.json or RUN/tokenizer.json"},
    {"pack.max_samples", RV_CFG_INT, "0", NULL, "pack only the first N cells (0 = all; for trials and benchmarks)"},
    {"pack.threads", RV_CFG_INT, "0", NULL,
     "threads per rank that decode, resize and tokenize (0 = the cores the rank may use: OMP_NUM_THREADS or its CPU set)"},
    {"pack.mask_upstream_quirk", RV_CFG_BOOL, "true", NULL,
     "loss mask as upstream's preprocess_qwen: also train every \\n, <|im_start|> and <|im_end|> token, user turns included (false = assistant turns only)"},
    {"pack.check", RV_CFG_BOOL, "false", NULL, "only check an existing shard directory (pack.out): read every dataset back, report damage"},
    /* ---- import ---- */
    {"import.from", RV_CFG_STR, "", NULL,
     "Hugging Face model to import: a directory (model.safetensors, or model.safetensors.index.json + shards; config.json; tokenizer.json), a .safetensors file or an index .json"},
    {"import.config", RV_CFG_STR, "", NULL, "the model's config.json; empty = config.json next to the weights"},
    {"import.tokenizer", RV_CFG_STR, "", NULL, "tokenizer.json stored with the checkpoint (and copied to RUN/tokenizer.json); empty = the one next to the weights, if any"},
    {"import.out", RV_CFG_STR, "", NULL, "native checkpoint to write; empty = RUN/checkpoints/step-00000000.h5"},
    /* ---- export ---- */
    {"export.to", RV_CFG_STR, "", NULL, "directory to write the Hugging Face model into (safetensors, config.json, tokenizer.json)"},
    {"export.checkpoint", RV_CFG_STR, "", NULL, "native checkpoint to export; empty = the latest in RUN/checkpoints"},
    {"export.dtype", RV_CFG_ENUM, "auto", "auto|f32|bf16|f16", "stored tensor dtype; auto = the dtype the weights were imported in (f32 when trained from scratch or mixed)"},
    {"export.max_shard_size", RV_CFG_STR, "5GB", NULL,
     "largest safetensors file, as transformers' max_shard_size (e.g. 5GB, 500MB, 2GiB, 100KB); bigger models get numbered shards + model.safetensors.index.json; 0 = one file"},
    {NULL, 0, NULL, NULL, NULL},
};
