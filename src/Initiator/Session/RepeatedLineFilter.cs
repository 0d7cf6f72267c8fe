using System.Diagnostics;
using System.Text;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// Keeps a misbehaving peer from flooding the log: the first line of a kind is written, later lines of the same
/// kind within <paramref name="window"/> are only counted, and the next one after the window says how many were
/// left out. Lines that differ only in numbers (task tags, attempt counts, seconds) are of the same kind.
/// </summary>
public sealed class RepeatedLineFilter(TimeSpan window, Action<string> write)
{
    private const int MaxKinds = 64;
    private readonly Dictionary<string, (long Since, int Held)> _kinds = [];

    public void Write(string line)
    {
        string kind = Kind(line);
        long now = Stopwatch.GetTimestamp();
        lock (_kinds)
        {
            if (_kinds.TryGetValue(kind, out var seen))
            {
                var elapsed = Stopwatch.GetElapsedTime(seen.Since, now);
                if (elapsed < window)
                {
                    _kinds[kind] = seen with { Held = seen.Held + 1 };
                    return;
                }
                if (seen.Held > 0) line += $" (and {seen.Held} similar message(s) in the {elapsed.TotalSeconds:0} s before)";
            }
            if (_kinds.Count >= MaxKinds) Prune(now);
            _kinds[kind] = (now, 0);
        }
        write(line);
    }

    /// <summary>Says how many lines were held back and not yet reported (at the end of a session).</summary>
    public void Flush()
    {
        List<string> lines = [];
        lock (_kinds)
        {
            foreach (var (kind, seen) in _kinds)
                if (seen.Held > 0) lines.Add($"{seen.Held} more message(s) like \"{kind}\" were left out");
            _kinds.Clear();
        }
        foreach (var line in lines) write(line);
    }

    private void Prune(long now)
    {
        foreach (var (kind, seen) in _kinds.ToArray())
            if (Stopwatch.GetElapsedTime(seen.Since, now) >= window && seen.Held == 0) _kinds.Remove(kind);
        if (_kinds.Count >= MaxKinds) _kinds.Clear(); // still full: forget rather than grow
    }

    /// <summary>The line with every number (decimal, hex with 0x, with a fraction) replaced by '#'.</summary>
    private static string Kind(string line)
    {
        var kind = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length;)
        {
            if (!char.IsAsciiDigit(line[i]))
            {
                kind.Append(line[i++]);
                continue;
            }
            while (i < line.Length && (char.IsAsciiHexDigit(line[i]) || line[i] is 'x' or '.')) i++;
            kind.Append('#');
        }
        return kind.ToString();
    }
}
