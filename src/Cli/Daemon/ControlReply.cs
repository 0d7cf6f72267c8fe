using System.Globalization;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// The daemon's answer, line by line: "out TEXT" and "err TEXT" are what the command would have printed on
/// stdout and stderr, and the last line "exit N" is its exit code. A client relays them as if it had done
/// the work itself, so messages and exit codes are the same with or without the daemon.
/// </summary>
public static class ControlReply
{
    public static string Out(string text) => "out " + text;
    public static string Err(string text) => "err " + text;
    /// <summary>"retry": this daemon is exiting; connect again (a new daemon will answer).</summary>
    public const string Retry = "retry";

    public static string Exit(int code) => "exit " + code.ToString(CultureInfo.InvariantCulture);

    /// <summary>Splits a reply line into its kind ("out", "err", "exit") and text; unknown lines are errors.</summary>
    public static (string Kind, string Text) Parse(string line)
    {
        int space = line.IndexOf(' ');
        string kind = space < 0 ? line : line[..space];
        string text = space < 0 ? "" : line[(space + 1)..];
        return kind is "out" or "err" or "exit" or Retry ? (kind, text) : ("err", "iscsi-up: unexpected answer from the daemon: " + line);
    }
}
