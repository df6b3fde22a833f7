package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/landscape-dev/landscape/pkg/config"
)

// completeCommand is the hidden command the completion scripts call:
// `landscape __complete WORD…` prints the candidates for the last word,
// one per line, from the same command table that runs the commands.
const completeCommand = "__complete"

func completionCommand() command {
	return command{
		summary:    "print the shell completion script for bash or zsh",
		positional: true,
		flags: func() (*config.FlagSet, func(context.Context, env) error) {
			fs := config.New("landscape completion", "landscape completion: print the shell completion script for bash or zsh")
			fs.SetArgs("bash|zsh")
			fs.SetExamples(`# bash, this shell only:
source <(landscape completion bash)
# bash, every new shell:
landscape completion bash > ~/.local/share/bash-completion/completions/landscape
# zsh (after compinit):
source <(landscape completion zsh)`)
			return fs, func(_ context.Context, e env) error {
				if len(e.args) != 1 {
					return usagef("want one argument: bash or zsh")
				}
				switch e.args[0] {
				case "bash":
					_, err := fmt.Fprint(e.stdout, bashCompletion)
					return err
				case "zsh":
					_, err := fmt.Fprint(e.stdout, zshCompletion)
					return err
				}
				return usagef("unknown shell %q: want bash or zsh", e.args[0])
			}
		},
	}
}

// bashCompletion asks the binary itself (the first word of the line) for
// the candidates.
const bashCompletion = `# bash completion for landscape: source <(landscape completion bash)
_landscape() {
	local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "$cur"))
}
complete -o default -F _landscape landscape
`

const zshCompletion = `#compdef landscape
# zsh completion for landscape: source <(landscape completion zsh) after compinit
_landscape() {
	local -a candidates
	candidates=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	compadd -a candidates
}
compdef _landscape landscape
`

// complete prints the candidates for the last of words (the word being
// typed, maybe empty): subcommands of the group reached so far, a leaf
// command's flags, or the values of -o and of completion's argument.
func complete(e env, words []string) int {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	cmds := commands()
	var leaf *command
	for _, w := range words[:len(words)-1] {
		c, ok := cmds[w]
		if !ok {
			break
		}
		if c.sub == nil {
			leaf = &c
			break
		}
		cmds = c.sub
	}
	var out []string
	switch {
	case leaf == nil:
		out = sortedNames(cmds)
	case len(words) >= 2 && (words[len(words)-2] == "-o" || words[len(words)-2] == "--output"):
		out = []string{outputTable, outputJSON}
	case strings.HasPrefix(cur, "-"):
		fs, _ := leaf.flags()
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) == 1 {
				out = append(out, "-"+f.Name)
			} else {
				out = append(out, "--"+f.Name)
			}
		})
	case leaf.summary == completionCommand().summary:
		out = []string{"bash", "zsh"}
	}
	for _, c := range out {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(e.stdout, c)
		}
	}
	return exitOK
}
