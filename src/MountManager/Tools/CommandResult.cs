namespace IscsiUp.MountManager.Tools;

/// <summary>What an external command did: its exit code and everything it printed.</summary>
public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>The first non-empty line of stderr (or stdout when stderr is silent), for one-line error messages.</summary>
    public string FirstErrorLine
    {
        get
        {
            foreach (var text in new[] { StandardError, StandardOutput })
            {
                foreach (var line in text.Split('\n'))
                {
                    var trimmed = line.Trim();
                    if (trimmed.Length > 0) return trimmed;
                }
            }
            return $"exit code {ExitCode}";
        }
    }
}
