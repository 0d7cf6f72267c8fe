using System.Text;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// What a session prints while a client waits for its login: each line goes to the client (as "out ...") and to
/// the daemon's log (the journal). Once the login is done the client is detached and only the log remains.
/// </summary>
public sealed class ClientOutput(ControlConnection client, TextWriter log, string target, string portal) : TextWriter
{
    private readonly StringBuilder _line = new();
    private ControlConnection? _client = client;

    public override Encoding Encoding => Encoding.UTF8;

    public void Detach()
    {
        lock (_line) _client = null;
    }

    public override void Write(char value)
    {
        lock (_line)
        {
            if (value != '\n')
            {
                if (value != '\r') _line.Append(value);
                return;
            }
            string text = _line.ToString();
            _line.Clear();
            _client?.Out(text);
            // The log names the session once per line: lines that name the target already (iscsiadm's
            // "Login to [target: ..., portal: ...]", reconnect reports) go as they are, the others get a prefix.
            string message = text.StartsWith("iscsi-up: ", StringComparison.Ordinal) ? text["iscsi-up: ".Length..] : text;
            log.WriteLine(message.Contains(target, StringComparison.Ordinal) ? $"iscsi-up: {message}" : $"iscsi-up: {target} at {portal}: {message}");
        }
    }

    public override void Write(string? value)
    {
        foreach (char c in value ?? "") Write(c);
    }
}
