# Bash completion for dsmfs: `source <(dsmfs completion)`. It asks dsmfs
# itself (urfave/cli's --generate-bash-completion) for the words that fit,
# and falls back to file names.
_dsmfs() {
	local cur=${COMP_WORDS[COMP_CWORD]} words
	if [[ $cur == -* ]]; then
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _dsmfs dsmfs
