// llamacpp_logits: llama.cpp's logits of every position of a prompt, for
// bench/gguf_vs_llamacpp.sh to compare with `golora generate --logits-out`.
//
//   llamacpp_logits MODEL.gguf OUT THREADS ID...
//
// The ids are fed as given (no tokenizer, no BOS added) in one llama_decode
// with logits asked for at every position; OUT gets them as little-endian
// float32, n_vocab values per position (llama_get_logits_ith), the layout
// golora writes. The KV cache is F32 (below). Extra buffer types are off (llama-completion's
// --no-repack): this llama.cpp build's AMX backend crashes on some shapes
// (see docs/BENCHMARKS.md, GGUF interoperability).
//
// Built by the script against a llama.cpp build (never committed here):
//   cc -O2 -I$SRC/include -I$SRC/ggml/include llamacpp_logits.c -L$BIN -lllama
#include <stdio.h>
#include <stdlib.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *data) {
	(void)data;
	if (level == GGML_LOG_LEVEL_ERROR) {
		fputs(text, stderr);
	}
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: %s MODEL.gguf OUT THREADS ID...\n", argv[0]);
		return 2;
	}
	int n = argc - 4;
	llama_log_set(quiet, NULL);
	llama_backend_init();
	struct llama_model_params mp = llama_model_default_params();
	mp.use_extra_bufts = false;
	struct llama_model *model = llama_model_load_from_file(argv[1], mp);
	if (!model) {
		fprintf(stderr, "%s: cannot load\n", argv[1]);
		return 1;
	}
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = cp.n_batch = cp.n_ubatch = n;
	cp.n_threads = cp.n_threads_batch = atoi(argv[3]);
	cp.no_perf = true;
	// An F32 KV cache and no flash attention: llama.cpp's defaults (F16
	// cache, flash attention on the CPU) round K and V to F16, a relative
	// error of ~1e-3 in the logits that golora's F32 cache does not have.
	cp.type_k = cp.type_v = GGML_TYPE_F32;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) {
		fprintf(stderr, "%s: cannot make a context of %d positions\n", argv[1], n);
		return 1;
	}
	int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
	struct llama_batch b = llama_batch_init(n, 0, 1);
	for (int i = 0; i < n; i++) {
		char *end;
		long id = strtol(argv[4 + i], &end, 10);
		if (*end != 0 || id < 0 || id >= nv) {
			fprintf(stderr, "token id %s: not in [0, %d)\n", argv[4 + i], nv);
			return 1;
		}
		b.token[i] = (llama_token)id;
		b.pos[i] = i;
		b.n_seq_id[i] = 1;
		b.seq_id[i][0] = 0;
		b.logits[i] = 1;
	}
	b.n_tokens = n;
	if (llama_decode(ctx, b) != 0) {
		fprintf(stderr, "%s: llama_decode failed\n", argv[1]);
		return 1;
	}
	FILE *f = fopen(argv[2], "wb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (fwrite(llama_get_logits_ith(ctx, i), sizeof(float), nv, f) != (size_t)nv) {
			perror(argv[2]);
			return 1;
		}
	}
	if (fclose(f) != 0) {
		perror(argv[2]);
		return 1;
	}
	llama_batch_free(b);
	llama_free(ctx);
	llama_model_free(model);
	llama_backend_free();
	return 0;
}
