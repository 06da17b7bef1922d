#compdef dsmfs
# Zsh completion for dsmfs: `dsmfs completion zsh > "${fpath[1]}/_dsmfs"`,
# or `source <(dsmfs completion zsh)` in a shell. Like the bash script it
# asks dsmfs itself (urfave/cli's --generate-bash-completion) for the words
# that fit, and falls back to file names.
_dsmfs() {
	local -a opts
	local cur=${words[-1]}
	if [[ $cur == -* ]]; then
		opts=("${(@f)$(${words[@]:0:#words[@]-1} $cur --generate-bash-completion 2>/dev/null)}")
	else
		opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
	fi
	if [[ -n ${opts[1]} ]]; then
		_describe 'values' opts
	else
		_files
	fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_dsmfs "$@"
else
	compdef _dsmfs dsmfs
fi
