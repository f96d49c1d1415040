#include <string.h>

#include "phases/phase.h"

const rv_phase rv_phases[] = {
    {"synth", rv_phase_synth, "write the phantom demo datasets in the real on-disk layouts under DATA_DIR", "synth.", 1},
    {"instruct", rv_phase_instruct, "build every instruction task from DATA_DIR; write LLaVA-format JSON to RUN/llava/", "instruct.", 1},
    {"pack", rv_phase_pack, "decode, resize and tokenize every instruction cell into sharded HDF5 (RUN/shards/); pack.check=true verifies shards", "pack.", 0},
    {"import", rv_phase_import, "Hugging Face safetensors model (+ config.json, tokenizer.json) -> native checkpoint in RUN/checkpoints/", "import.", 0},
    {"export", rv_phase_export, "latest native checkpoint in RUN -> Hugging Face directory (llava-hf safetensors, config.json, tokenizer.json)", "export.", 0},
    {"score", rv_phase_score, "score finished generations (*_output.json) with the metrics of their task", "score.", 0},
    {"sft", rv_phase_sft, "supervised fine-tuning on RUN/shards (data parallel, ZeRO-1, resumable; exit 75 = checkpointed after a stop, rerun)", "sft.", 0},
    {"eval", rv_phase_eval, "ask a model every test task across the ranks, score with bootstrap intervals; RUN/eval/ (exit 75 = stopped, answers kept, rerun)", "eval.", 0},
    {"grpo", rv_phase_grpo, "GRPO from an SFT model: policy ranks roll out, reward ranks score over MPI, verl's update (resumable; exit 75 = checkpointed after a stop, rerun)", "grpo.", 0},
    {NULL, NULL, NULL, NULL, 0},
};

const rv_phase *rv_phase_find(const char *name) {
    for (const rv_phase *p = rv_phases; p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}
