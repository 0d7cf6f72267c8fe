using System.CommandLine;
using IscsiUp.Cli.Config;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Commands;

/// <summary>Options shared by several commands, with the names and short forms iscsiadm users know.</summary>
public static class CommonOptions
{
    public static Option<string> Portal(bool required) => new("--portal", "-p")
    {
        Description = "Target portal HOST[:PORT] (port 3260 if omitted; [v6addr]:PORT for IPv6)",
        HelpName = "HOST[:PORT]",
        Required = required,
    };

    public static Option<string> Target(bool required) => new("--targetname", "-T")
    {
        Description = "Target IQN, as printed by discover",
        HelpName = "IQN",
        Required = required,
    };

    public static Option<string?> InitiatorName() => new("--initiator-name", "-I")
    {
        HelpName = "IQN",
        Description = $"Initiator IQN to present (default: {Paths.InitiatorNameFile}, else {Paths.OpenIscsiInitiatorNameFile}, else generated once)",
    };

    public static Option<int> LoginTimeout() => new("--login-timeout")
    {
        Description = $"Seconds to wait for the connection and each login step (1 to {ArgumentCheck.MaxLoginTimeoutSeconds}; default: iscsi-up.conf's, else 15)",
        HelpName = "SECONDS",
        DefaultValueFactory = _ => 15,
    };

    public static Portal ParsePortal(string text) =>
        Initiator.Session.Portal.TryParse(text, out var portal, out var error) ? portal! : throw new UserError(error!);
}
