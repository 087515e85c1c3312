package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golora/golora/internal/outpath"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tensor"
)

// mergeDType resolves merge's --dtype: "auto" is the base checkpoint's.
func mergeDType(modelPath, dtype string) (tensor.DType, error) {
	if dtype == "auto" {
		return model.CheckpointDType(modelPath)
	}
	dt, err := tensor.ParseDType(dtype)
	if err != nil {
		return dt, fmt.Errorf("--dtype: %w", err)
	}
	return dt, nil
}

func init() {
	var modelPath, adapter, out, baseDType, dtype string
	var unsafe, loraOnly bool
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Merge PEFT adapters into a model and save a plain Hugging Face checkpoint",
		Long: `Load a model and one or more PEFT LoRA/DoRA adapters (comma-separated; all
active, merged in order), fold them into the base weights (W + scaling·B·A;
DoRA: m·(W + scaling·B·A)/‖·‖) and write config.json and model.safetensors
in the model's own layout (GPT-2 Conv1D weights stay [in, out]), stored in the
checkpoint's dtype (BF16 for a BF16 base; --dtype to choose); the merge itself
is done in float32 (--base-dtype bf16/f16 rounds the base weights first, as a
run trained with that base saw them).
modules_to_save copies replace their layers, LoRA on the embedding and
trainable tokens go into the table, lora_bias into the base biases; a tied
embedding and head that the adapter changes differently are written
untied. The merge refuses NaN/Inf weights unless --unsafe is given, and
refuses what cannot be folded into weights (bottleneck adapters of a
lora+adapter run) unless --lora-only drops them, naming them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adapter == "" || out == "" {
				return errors.New("--adapter DIR and --out DIR are required")
			}
			given := modelPath
			modelPath, _, err := resolveModel(modelPath, adapter, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := outpath.CheckNotInput("--out", out, append([]string{modelPath}, strings.Split(adapter, ",")...)...); err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			saveDT, err := mergeDType(modelPath, dtype)
			if err != nil {
				return err
			}
			tok, err := loadTokenizer(modelPath, "")
			if err != nil {
				return err
			}
			m, err := loadModelDType(modelPath, baseDType)
			if err != nil {
				return err
			}
			if err := model.SetBaseDType(m, tensor.F32); err != nil {
				return err
			}
			lm, err := attachAdapters(m, adapter)
			if err != nil {
				return err
			}
			summary := lm.Summary()
			if loraOnly {
				if dropped := lm.DropBottlenecks(); len(dropped) > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "golora: --lora-only: the merged model leaves out bottleneck adapter(s) %v; it differs from the adapted model by them\n", dropped)
				}
			}
			if err := lm.MergeAndUnload(!unsafe); err != nil {
				return err
			}
			if err := model.SaveHFDType(m, out, saveDT); err != nil {
				return err
			}
			// The base's tokenizer travels with it, so that generate
			// --model OUT works on the merged folder as on the base.
			if err := saveTokenizer(out, modelPath, "", tok); err != nil {
				return err
			}
			base := given
			switch {
			case modelPath == "":
				base = "embedded " + embedded.Name
			case given == "":
				base = modelPath
			case given != modelPath:
				base += " (" + modelPath + ")"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %s into %s (%s) -> %s\n", adapter, base, summary, out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "base model folder or Hugging Face hub id in the local cache (default: the adapter's base model, else embedded stories260K)")
	fl.StringVar(&adapter, "adapter", "", "PEFT adapter folder(s), comma-separated")
	fl.StringVar(&out, "out", "", "output folder")
	fl.BoolVar(&unsafe, "unsafe", false, "skip the NaN/Inf check before merging")
	fl.BoolVar(&loraOnly, "lora-only", false, "merge only the LoRA part of a lora+adapter run, leaving out (and naming) its bottleneck adapters")
	addBaseDTypeFlag(fl, &baseDType)
	fl.StringVar(&dtype, "dtype", "auto", "dtype of the written model.safetensors: auto (the base checkpoint's), f32, bf16 or f16")
	rootCmd.AddCommand(cmd)
}
