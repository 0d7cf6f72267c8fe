using System.CommandLine;
using IscsiUp.Cli.Config;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up iname [--set IQN | --generate]`: show, set or generate the initiator name (like iscsi-iname).</summary>
public static class InameCommand
{
    public static Command Create()
    {
        var set = new Option<string?>("--set") { Description = "Store this initiator IQN in /etc/iscsi-up/initiatorname.iscsi", HelpName = "IQN" };
        var generate = new Option<bool>("--generate") { Description = "Print a new random initiator IQN (stores nothing)" };
        var command = new Command("iname", "Show the initiator name this machine presents; --set or --generate one") { set, generate };
        command.SetAction(result =>
        {
            if (result.GetValue(generate))
            {
                Console.WriteLine(InitiatorName.Generate());
                return ExitCodes.Success;
            }
            if (result.GetValue(set) is { } name)
            {
                InitiatorName.Validate(name, "initiator name");
                Paths.EnsurePrivateDirectory(Paths.ConfigDir);
                InitiatorName.Save(name);
                Console.WriteLine($"InitiatorName={name} (in {Paths.InitiatorNameFile})");
                return ExitCodes.Success;
            }
            Console.WriteLine(InitiatorName.Resolve(null));
            return ExitCodes.Success;
        });
        return command;
    }
}
