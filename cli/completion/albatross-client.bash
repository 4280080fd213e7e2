# SPDX-License-Identifier: ISC
# bash completion for albatross-client: commands, their options, and names of
# unikernels, policies, block devices and services asked from albatrossd when it
# runs.

_albatross_client_names() {
	# $1: the info command (info, policy, block); names from --json output.
	local out
	out=$("${COMP_WORDS[0]}" "${_albatross_global[@]}" "$1" --json 2>/dev/null) || return
	printf '%s\n' "$out" | grep -o '"\(name\|path\)":"[^"]*"' | cut -d'"' -f4
}

_albatross_client_services() {
	# The services' names from "service info --json": each object begins with
	# "name" then "generation" (the names of its config's devices do not).
	local out
	out=$("${COMP_WORDS[0]}" "${_albatross_global[@]}" service info --json 2>/dev/null) || return
	printf '%s\n' "$out" | grep -o '"name":"[^"]*","generation"' | cut -d'"' -f4
}

_albatross_client() {
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="create destroy restart info get policy add-policy remove-policy block
		create-block set-block dump-block destroy-block tenders service collect
		console log stats generate sign revoke certificate"
	local remote="--csr --destination --ca --ca-key --server-ca --handshake-timeout"
	local global="--socket --rundir --json --help --version $remote"
	_albatross_global=()

	# The command is the first word that is not an option or an option's value;
	# for service, the word after it is its subcommand (deploy, info, remove).
	cmd=
	local sub= subi=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--socket | --rundir)
			_albatross_global+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
			((i++))
			;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	if [[ $cmd == service ]]; then
		for ((i++; i < COMP_CWORD; i++)); do
			case ${COMP_WORDS[i]} in
			--socket | --rundir)
				_albatross_global+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
				((i++))
				;;
			-*) ;;
			*)
				sub=${COMP_WORDS[i]}
				subi=$i
				break
				;;
			esac
		done
	fi

	case $prev in
	--socket | --data | --console-socket | --crl | --ca | --ca-key | --server-ca)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--rundir)
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
	--mem | --cpu | --arg | --exit-code | --startup | --net | --block | --bridge | --ports | --prefix | \
		--sector-size | --days | --since | --count | --server | --destination | \
		--handshake-timeout | --exclude | --publish | --arg-template | --ready-line | \
		--ready-tcp | --ready-udp | --ready-delay | --ready-timeout | --drain | --device | \
		--extra-net)
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts
	case $cmd in
	create) opts="--mem --cpu --net --block --arg --restart-on-fail --exit-code --startup
		--force --compress --tender" ;;
	restart) opts="--replace-arguments --arg" ;;
	get) opts="--raw --compress" ;;
	add-policy) opts="--mem --cpu --block --bridge --ports --prefix" ;;
	create-block) opts="--data --sector-size --compress" ;;
	set-block | dump-block) opts="--compress" ;;
	console) opts="--since --count --follow --console-socket" ;;
	log) opts="--since --count --follow" ;;
	stats) opts="--follow" ;;
	generate) opts="--server --days --key-type" ;;
	sign) opts="--days" ;;
	revoke) opts="--crl --days" ;;
	certificate) opts="--destination --server-ca --handshake-timeout" ;;
	service)
		case $sub in
		deploy) opts="--net --prefix --gateway --exclude --publish --arg-template --arg
			--ready-line --ready-tcp --ready-udp --ready-delay --ready-timeout --drain
			--device --mem --cpu --extra-net --block --restart-on-fail --exit-code
			--startup --compress --tender" ;;
		*) opts= ;;
		esac
		;;
	*) opts= ;;
	esac
	case $cmd in
	generate | sign | revoke | certificate) ;;
	*) opts="$opts $remote" ;; # every command that talks to a daemon
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --json --help" -- "$cur"))
		return
	fi
	case $cmd in
	destroy | restart | info | get | console | stats)
		COMPREPLY=($(compgen -W "$(_albatross_client_names info)" -- "$cur"))
		# a path is also fine for info and stats
		;;
	policy | remove-policy | log)
		COMPREPLY=($(compgen -W "$(_albatross_client_names policy)" -- "$cur"))
		;;
	block | set-block | dump-block | destroy-block)
		COMPREPLY=($(compgen -W "$(_albatross_client_names block)" -- "$cur"))
		;;
	service)
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W "deploy info remove" -- "$cur"))
		elif [[ $sub == deploy && $((COMP_CWORD - 1)) -ne $subi ]]; then
			COMPREPLY=($(compgen -f -- "$cur")) # the image
		else
			COMPREPLY=($(compgen -W "$(_albatross_client_services)" -- "$cur"))
		fi
		;;
	collect)
		COMPREPLY=($(compgen -W "$(_albatross_client_names policy)" -- "$cur"))
		;;
	*)
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
}
complete -F _albatross_client albatross-client
