using System.CommandLine;
using IscsiUp.Cli.Config;

namespace IscsiUp.Cli.Commands;

/// <summary>The session's error-handling timeouts as options of `login` and `node` (see <see cref="SessionTimeouts"/>).</summary>
public sealed class TimeoutOptions
{
    private readonly Option<int?> _command = new("--command-timeout")
    {
        Description = "Seconds a SCSI command may go unanswered before it is aborted (default 30)",
    };
    private readonly Option<int?> _abort = new("--abort-timeout")
    {
        Description = "Seconds to wait for ABORT TASK before resetting the LUN (default 15)",
    };
    private readonly Option<int?> _luReset = new("--lu-reset-timeout")
    {
        Description = "Seconds to wait for LOGICAL UNIT RESET before dropping the connection (default 30)",
    };
    private readonly Option<int?> _replacement = new("--replacement-timeout")
    {
        Description = "Seconds to keep trying to reconnect before pending I/O fails (default 120)",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_command);
        command.Options.Add(_abort);
        command.Options.Add(_luReset);
        command.Options.Add(_replacement);
    }

    public SessionTimeouts Read(ParseResult result) =>
        new(Read(result, _command), Read(result, _abort), Read(result, _luReset), Read(result, _replacement));

    private static int? Read(ParseResult result, Option<int?> option)
    {
        if (result.GetValue(option) is not { } seconds) return null;
        if (!SessionTimeouts.IsValid(seconds)) throw new UserError($"{option.Name} must be whole seconds from 1 to {SessionTimeouts.MaxSeconds}, not {seconds}");
        return seconds;
    }
}
