package train

// Test helpers for the external tests in flags_test.go.

var TorchRefDir = torchRefDir

var (
	TestConfig = testConfig
	RunTrainer = runTrainer
)

// IDsOnly is the tokenizer of the pre-tokenized reference data.
func IDsOnly(eos int) idsOnly { return idsOnly{eos} }
