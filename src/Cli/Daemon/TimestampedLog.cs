using System.Globalization;
using System.Text;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// daemon.log's lines: each starts with the local time to the millisecond (the journal adds its own, so only a
/// daemon started by a command, which writes this file, uses it); the "iscsi-up: " every message carries is
/// dropped there, the file says whose log it is.
/// </summary>
public sealed class TimestampedLog(TextWriter file, Func<DateTimeOffset>? clock = null) : TextWriter
{
    private readonly StringBuilder _line = new();
    private readonly Func<DateTimeOffset> _clock = clock ?? (() => DateTimeOffset.Now);

    public override Encoding Encoding => file.Encoding;

    public override void Write(char value)
    {
        lock (_line)
        {
            if (value == '\r') return;
            if (value != '\n')
            {
                _line.Append(value);
                return;
            }
            string text = _line.ToString();
            _line.Clear();
            if (text.StartsWith("iscsi-up: ", StringComparison.Ordinal)) text = text["iscsi-up: ".Length..];
            file.WriteLine(_clock().ToString("yyyy-MM-dd HH:mm:ss.fff zzz", CultureInfo.InvariantCulture) + " " + text);
            file.Flush();
        }
    }

    public override void Write(string? value)
    {
        lock (_line)
            foreach (char c in value ?? "") Write(c);
    }

    public override void Flush() => file.Flush();

    /// <summary>Points Console.Out and Console.Error (both the log file once detached) through a timestamping writer.</summary>
    public static void Install()
    {
        Console.SetOut(Synchronized(new TimestampedLog(Console.Out)));
        Console.SetError(Synchronized(new TimestampedLog(Console.Error)));
    }
}
