# bash completion for iscsi-up(8): commands, options, option values, and target names and portals from
# the node records and sessions this machine knows. Installed as
# /usr/share/bash-completion/completions/iscsi-up (loaded on first use of the command); zsh runs the same
# code through bashcompinit (packaging/completion/_iscsi-up), so it sticks to what both shells have (no
# mapfile). tests/Cli.Tests/CompletionTests.cs checks it against every command's --help, in both shells.

# COMPREPLY = the lines compgen prints for these arguments. IFS is set only for that split: zsh's compgen
# splits -W's word list on IFS itself.
_iscsi_up_reply() {
    local lines
    lines=$(compgen "$@")
    local IFS=$'\n'
    # shellcheck disable=SC2206 # split on newlines only, in bash and in zsh's sh emulation alike
    COMPREPLY=($lines)
}

_iscsi_up_options() {
    case $1 in
        discover) echo "-p --portal -I --initiator-name --login-timeout --json --chap-user --chap-secret-file --chap-target-user --chap-target-secret-file" ;;
        login)    echo "-T --targetname -p --portal -I --initiator-name --lun --nbd-device --nbd-listen --nbd-unix --foreground --automatic --attempts --digest --login-timeout --command-timeout --abort-timeout --lu-reset-timeout --replacement-timeout --chap-user --chap-secret-file --chap-target-user --chap-target-secret-file" ;;
        session)  echo "-P --print-level --json" ;;
        logout)   echo "-T --targetname -p --portal --all --force" ;;
        rescan)   echo "-T --targetname -p --portal" ;;
        mount)    echo "-T --targetname -p --portal -I --initiator-name -m --mount-point -t --type --lun --force-format --replace --fstab --chap-user --chap-secret-file --chap-target-user --chap-target-secret-file" ;;
        umount)   echo "-m --mount-point --remove-fstab --fstab" ;;
        node)     echo "-T --targetname -p --portal -I --initiator-name --startup --lun --nbd-device --nbd-unix --nbd-timeout --nbd-dead-timeout --command-timeout --abort-timeout --lu-reset-timeout --replacement-timeout --no-chap --delete --json --chap-user --chap-secret-file --chap-target-user --chap-target-secret-file" ;;
        iname)    echo "--set --generate" ;;
        daemon)   echo "--exit-when-idle" ;;
    esac
}

# Field N (1 = portal, 2 = target) of the known nodes, and of the sessions for logout and rescan.
_iscsi_up_known() {
    local field=$1 command=$2
    {
        iscsi-up node 2>/dev/null | awk -v f="$field" '{ print $f }'
        if [ "$command" = logout ] || [ "$command" = rescan ]; then
            iscsi-up session 2>/dev/null | awk -v f="$field" '{ sub(/,[0-9]+$/, "", $2); print (f == 1 ? $2 : $3) }'
        fi
    } | sort -u
}

_iscsi_up() {
    local cur prev command i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    command=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) command=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [ -z "$command" ]; then
        _iscsi_up_reply -W "discover login session logout rescan mount umount node iname daemon --help --version" -- "$cur"
        return
    fi

    case $prev in
        -T|--targetname) _iscsi_up_reply -W "$(_iscsi_up_known 2 "$command")" -- "$cur"; return ;;
        -p|--portal) _iscsi_up_reply -W "$(_iscsi_up_known 1 "$command")" -- "$cur"; return ;;
        --nbd-device) _iscsi_up_reply -W "auto none $(compgen -G '/dev/nbd*' | grep -E '^/dev/nbd[0-9]+$')" -- "$cur"; return ;;
        --digest) _iscsi_up_reply -W "none prefer require" -- "$cur"; return ;;
        --startup) _iscsi_up_reply -W "automatic manual" -- "$cur"; return ;;
        -t|--type) _iscsi_up_reply -W "xfs ext4" -- "$cur"; return ;;
        -P|--print-level) _iscsi_up_reply -W "1 2 3" -- "$cur"; return ;;
        -m|--mount-point) _iscsi_up_reply -d -- "$cur"; return ;;
        --chap-secret-file|--chap-target-secret-file|--fstab|--nbd-unix) _iscsi_up_reply -f -- "$cur"; return ;;
        -I|--initiator-name|--set|--lun|--login-timeout|--attempts|--command-timeout|--abort-timeout|--lu-reset-timeout|--replacement-timeout|--nbd-timeout|--nbd-dead-timeout|--nbd-listen|--chap-user|--chap-target-user|--exit-when-idle) return ;;
    esac
    _iscsi_up_reply -W "$(_iscsi_up_options "$command") --help" -- "$cur"
}

complete -F _iscsi_up iscsi-up
