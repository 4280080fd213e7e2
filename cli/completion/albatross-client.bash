# SPDX-License-Identifier: ISC
# bash completion for albatross-client: commands, their options and option
# values, and the names of unikernels, policies, block devices and services
# asked from the local albatrossd (with the --socket and --rundir of the line)
# when it runs. Names hold ':' (alice:hello), which bash splits words at: the
# words are reassembled (by bash-completion's _init_completion -n : when it is
# loaded, else here from COMP_LINE) and the replies trimmed to the last ':'.
# The table of options is _albatross_client_options; the zsh completion
# (_albatross-client) has the same one, and tests/completion checks both
# against each other and against albatross-client --help.

# --- shared: the same text in _albatross-client (tests/completion checks) ---
# The options of a command ("service deploy" for the subcommand), or of no
# command ("") for the global ones. A trailing '=' marks an option taking a
# value.
_albatross_client_options() {
	local remote="--csr --destination= --ca= --ca-key= --server-ca= --handshake-timeout="
	local common="--socket= --rundir= --json --help"
	case $1 in
	"") echo "$common --version $remote" ;;
	create) echo "--mem= --cpu= --net= --block= --arg= --restart-on-fail --exit-code=
		--startup= --force --compress --tender= $common $remote" ;;
	restart) echo "--replace-arguments --arg= $common $remote" ;;
	get) echo "--raw --compress $common $remote" ;;
	add-policy) echo "--mem= --cpu= --block= --bridge= --ports= --prefix= $common $remote" ;;
	create-block) echo "--data= --sector-size= --compress $common $remote" ;;
	set-block | dump-block) echo "--compress $common $remote" ;;
	console) echo "--since= --count= --follow --console-socket= $common $remote" ;;
	log) echo "--since= --count= --follow $common $remote" ;;
	stats) echo "--follow $common $remote" ;;
	"service deploy") echo "--net= --prefix= --gateway= --exclude= --publish= --arg-template=
		--arg= --ready-line= --ready-tcp= --ready-udp= --ready-delay= --ready-timeout=
		--drain= --device= --mem= --cpu= --extra-net= --block= --restart-on-fail
		--exit-code= --startup= --compress --tender= $common $remote" ;;
	generate) echo "--server= --days= --key-type= --json --help" ;;
	sign) echo "--days= --json --help" ;;
	revoke) echo "--crl= --days= --json --help" ;;
	certificate) echo "--destination= --server-ca= --handshake-timeout= --json --help" ;;
	destroy | info | policy | remove-policy | block | destroy-block | tenders | collect | \
		service | "service info" | "service remove") echo "$common $remote" ;;
	*) echo "$common" ;;
	esac
}

# The same on one line, separated by single spaces.
_albatross_client_opts() {
	_albatross_client_options "$1" | tr '\n\t' '  ' | tr -s ' '
}

# The commands, and what their positional arguments are: unikernel (names of
# unikernels), block, policy (paths), service, file, or - (nothing to offer).
_albatross_client_commands="create destroy restart info get policy add-policy
	remove-policy block create-block set-block dump-block destroy-block tenders
	service collect console log stats generate sign revoke certificate"
_albatross_client_args() {
	case $1 in
	create) echo "- file" ;;
	destroy | restart | info | console | stats) echo "unikernel" ;;
	get) echo "unikernel file" ;;
	policy | remove-policy | add-policy | log | collect) echo "policy" ;;
	block | destroy-block) echo "block" ;;
	set-block | dump-block) echo "block file" ;;
	"service deploy") echo "service file" ;;
	"service info" | "service remove") echo "service" ;;
	sign) echo "file file file file" ;;
	revoke) echo "file file" ;;
	generate) echo "- file" ;;
	certificate) echo "file file file" ;;
	*) echo "" ;;
	esac
}

# The values of the keys $1 of the objects of the top-level array of the JSON
# document on stdin (the "name" of each unikernel, not of its devices).
_albatross_client_json_keys() {
	awk -v key="\"$1\"" '
	{ s = s $0 "\n" }
	END {
		n = length(s); depth = 0; instr = 0; str = ""; want = 0
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (instr) {
				if (c == "\\") { str = str c substr(s, i + 1, 1); i++; continue }
				if (c == "\"") {
					instr = 0; str = str c
					if (want) { print substr(str, 2, length(str) - 2); want = 0 }
					else if (depth == 2) last = str
					continue
				}
				str = str c; continue
			}
			if (c == "\"") { instr = 1; str = c; continue }
			if (c == "{" || c == "[") { depth++; last = ""; want = 0; continue }
			if (c == "}" || c == "]") { depth--; last = ""; want = 0; continue }
			if (c == ":" && depth == 2 && last == key) { want = 1; last = ""; continue }
			if (c == ",") { last = ""; want = 0 }
		}
	}'
}
# --- end of shared ---

# The names of kind $1 (unikernel, block, policy, service) from the local
# albatrossd; nothing for a remote command (--destination or --csr).
_albatross_client_names() {
	local -a q
	local key
	[[ $_albatross_client_remote ]] && return
	case $1 in
	unikernel) q=(info) key=name ;;
	block) q=(block) key=name ;;
	policy) q=(policy) key=path ;;
	service) q=(service info) key=name ;;
	*) return ;;
	esac
	local client=${_albatross_client_words[0]}
	[[ $client == "~/"* ]] && client=$HOME/${client#"~/"}
	local -a t=()
	command -v timeout >/dev/null && t=(timeout 5)
	"${t[@]}" "$client" "${_albatross_client_global[@]}" --json "${q[@]}" 2>/dev/null </dev/null |
		_albatross_client_json_keys "$key"
}

# Without bash-completion: the words up to the cursor with those bash split at
# ':' joined again (from COMP_LINE, which has the blanks COMP_WORDS lost).
_albatross_client_reassemble() {
	local line=${COMP_LINE:0:COMP_POINT} i w joined=0
	_albatross_client_words=()
	for ((i = 0; i <= COMP_CWORD && i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		local blank=0
		if [[ $line =~ ^[[:space:]]+ ]]; then
			blank=1
			line=${line:${#BASH_REMATCH[0]}}
		fi
		if [[ $i == "$COMP_CWORD" ]]; then
			w=$line # the current word ends at the cursor
		elif [[ $line == "$w"* ]]; then
			line=${line:${#w}}
		else # not the line's words (a caller's COMP_WORDS): keep them as they are
			_albatross_client_words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
			_albatross_client_cword=$COMP_CWORD
			return
		fi
		local n=${#_albatross_client_words[@]}
		local prev=
		((n > 0)) && prev=${_albatross_client_words[n - 1]}
		if ((n > 0 && !blank)) && [[ $w == :* || $prev == *: ]]; then
			_albatross_client_words[n - 1]+=$w
		else
			_albatross_client_words+=("$w")
		fi
		[[ $i == "$COMP_CWORD" ]] && joined=1
	done
	((joined)) || _albatross_client_words+=("")
	_albatross_client_cword=$((${#_albatross_client_words[@]} - 1))
}

# The value of an option as the client would see it (no quotes, ~ expanded).
_albatross_client_dequote() {
	local v=$1
	case $v in
	\'*\') v=${v:1:${#v}-2} ;;
	\"*\") v=${v:1:${#v}-2} ;;
	"~/"*) v=$HOME/${v#"~/"} ;;
	esac
	printf '%s' "$v"
}

_albatross_client() {
	local cur words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n : || return
		_albatross_client_words=("${words[@]}")
		_albatross_client_cword=$cword
	else
		_albatross_client_reassemble
		cur=${_albatross_client_words[_albatross_client_cword]}
	fi
	COMPREPLY=()
	_albatross_client_complete "$cur"
	# bash replaces only what follows the last ':' of the word
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		if declare -F __ltrim_colon_completions >/dev/null; then
			__ltrim_colon_completions "$cur"
		else
			local pre=${cur%"${cur##*:}"} i
			for i in "${!COMPREPLY[@]}"; do
				COMPREPLY[i]=${COMPREPLY[i]#"$pre"}
			done
		fi
	fi
}

_albatross_client_files() {
	compopt -o filenames 2>/dev/null # outside a completion (tests) it fails
	local IFS=$'\n'
	COMPREPLY=($(compgen -f -- "$1"))
}

# Sets COMPREPLY for the word $1 from _albatross_client_words and _cword.
_albatross_client_complete() {
	local cur=$1 i w cmd= opts vopts pos=0
	local -a argv=()
	_albatross_client_global=()
	_albatross_client_remote=
	local -a W=("${_albatross_client_words[@]}")
	local cw=$_albatross_client_cword

	# The command (and service's subcommand) is the first word that is not an
	# option or an option's value; global options are also accepted after it.
	opts=$(_albatross_client_opts "")
	local prevopt=
	for ((i = 1; i < cw; i++)); do
		w=${W[i]}
		if [[ $prevopt ]]; then
			case $prevopt in
			--socket | --rundir) _albatross_client_global+=("$prevopt" "$(_albatross_client_dequote "$w")") ;;
			esac
			prevopt=
			continue
		fi
		case $w in
		--) ;;
		--*=*)
			case $w in
			--socket=* | --rundir=*) _albatross_client_global+=("$(_albatross_client_dequote "$w")") ;;
			--destination=*) _albatross_client_remote=1 ;;
			esac
			;;
		-*)
			[[ $w == --destination || $w == --csr ]] && _albatross_client_remote=1
			[[ " $opts " == *" $w= "* ]] && prevopt=$w
			;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
				opts=$(_albatross_client_opts "$cmd")
			elif [[ $cmd == service ]]; then
				cmd="service $w"
				opts=$(_albatross_client_opts "$cmd")
			else
				argv+=("$w")
			fi
			;;
		esac
	done

	# the value of an option
	case $prevopt in
	"") ;;
	--socket | --data | --console-socket | --crl | --ca | --ca-key | --server-ca)
		_albatross_client_files "$cur"
		return
		;;
	--rundir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--tender)
		COMPREPLY=($(compgen -W "hvt spt" -- "$cur"))
		return
		;;
	--key-type)
		COMPREPLY=($(compgen -W "ed25519 rsa p256" -- "$cur"))
		return
		;;
	--gateway)
		COMPREPLY=($(compgen -W "none" -- "$cur"))
		return
		;;
	--sector-size)
		COMPREPLY=($(compgen -W "512 1024 2048 4096 8192 16384 32768 65536" -- "$cur"))
		return
		;;
	*) return ;; # a number, a name of the caller's choice, an address...
	esac

	if [[ $cur == -* ]]; then
		[[ $cmd == service ]] && opts=$(_albatross_client_opts "service info")
		COMPREPLY=($(compgen -W "${opts//=/}" -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$_albatross_client_commands" -- "$cur"))
		return
	fi
	if [[ $cmd == service ]]; then
		COMPREPLY=($(compgen -W "deploy info remove" -- "$cur"))
		return
	fi
	local -a kinds
	read -ra kinds <<<"$(_albatross_client_args "$cmd")"
	local kind=${kinds[${#argv[@]}]-}
	case $kind in
	file) _albatross_client_files "$cur" ;;
	unikernel | block | policy | service)
		COMPREPLY=($(compgen -W "$(_albatross_client_names "$kind")" -- "$cur"))
		;;
	esac
}
complete -F _albatross_client albatross-client
