package tokenizer

import (
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant", "tool"
	Content string `json:"content"`
}

// DefaultChatTemplate is the ChatML template used for models whose
// tokenizer_config.json has no chat_template (it is Qwen's layout without
// tools). For a model whose vocabulary lacks <|im_start|> and <|im_end|> the
// markers are encoded as ordinary text.
const DefaultChatTemplate = `{%- for message in messages %}` +
	`{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}` +
	`{%- endfor %}` +
	`{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}`

// ChatTemplate is a compiled Jinja chat template with the tokenizer's
// bos_token and eos_token. It is safe for concurrent use.
type ChatTemplate struct {
	tmpl     *jinja.Template
	source   string
	bos, eos string
}

// NewChatTemplate compiles t's chat template, or DefaultChatTemplate if t
// has none.
func NewChatTemplate(t Full) (*ChatTemplate, error) {
	src := t.ChatTemplate()
	if src == "" {
		src = DefaultChatTemplate
	}
	return CompileChatTemplate(src, t.BOSToken(), t.EOSToken())
}

// CompileChatTemplate compiles a Jinja chat template source.
func CompileChatTemplate(source, bosToken, eosToken string) (*ChatTemplate, error) {
	tm, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: chat template: %w", err)
	}
	return &ChatTemplate{tmpl: tm, source: source, bos: bosToken, eos: eosToken}, nil
}

// Source returns the template text.
func (c *ChatTemplate) Source() string { return c.source }

// Render renders a conversation as transformers' apply_chat_template does
// (tokenize=False): messages, add_generation_prompt, bos_token and eos_token
// are the template's variables.
func (c *ChatTemplate) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	return c.RenderWith(messages, addGenerationPrompt, nil)
}

// RenderWith is Render with extra template variables (e.g. "tools",
// "enable_thinking"); they cannot replace the four standard ones.
func (c *ChatTemplate) RenderWith(messages []Message, addGenerationPrompt bool, extra map[string]any) (string, error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := make(map[string]any, len(extra)+4)
	for k, v := range extra {
		data[k] = v
	}
	data["messages"] = msgs
	data["add_generation_prompt"] = addGenerationPrompt
	data["bos_token"] = c.bos
	data["eos_token"] = c.eos
	s, err := c.tmpl.Render(data)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template: %w", err)
	}
	return s, nil
}
