// Package train is golora's training engine: the optimisation loop with
// AdamW parameter groups (LoRA+ learning-rate ratio, no decay on norms and
// biases), warmup and decay schedules, gradient accumulation, global-norm
// clipping, periodic evaluation, crash-safe checkpoints with exact resume,
// and the telemetry a user watches (progress line, metrics.jsonl, final
// summary). Checkpoints, metrics.jsonl and the loss plot are parts a caller
// may leave out (Trainer.NoCheckpoints, NoMetrics, Plot). The engine links
// no flag, YAML or plotting library: train/trainconfig binds Config to
// flags and YAML files, train/lossplot draws loss.png.
//
// The engine drives a Task (a model with whatever is trainable on it) and a
// Batches stream; it knows nothing about model families or adapter maths, so
// it is tested on its own with a small softmax-regression task. The glue in
// setup.go builds the real Task (ModelTask: a model.Model with LoRA/DoRA or
// bottleneck adapters, or every weight trainable) and the data streams from
// a Config (Setup, SetupModel, or SetupData with data already loaded). The
// data settings go to package data: Data (a JSONL file, or a folder with
// train.jsonl and valid.jsonl as in mlx-lm; required, DemoData is the
// embedded demo set the CLI uses without --data)
// and Valid or ValidFraction through data.LoadSplits, TrainOnAll and SkipBad
// as data.Options (skipped lines are counted in the log), Pack to the
// shuffling data.Iterator.
//
// Checkpoint layout under Config.Out:
//
//	checkpoints/step-000010/      one complete checkpoint (never edited in place)
//	    adapter_config.json       \ written by Task.SaveAdapter (PEFT layout)
//	    adapter_model.safetensors /
//	    trainer_state.safetensors param/<name>, m/<name>, v/<name>
//	    state.json                step, RNG, data position, config, history, file hashes
//	checkpoints/latest            name of the newest complete checkpoint
//
// A checkpoint is built in a temporary directory, every file fsynced, then
// renamed into place, and only then is latest replaced atomically; older
// checkpoints are removed after that, so a kill -9 at any instant leaves the
// previous checkpoint intact.
package train
