using System.Text.RegularExpressions;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// <c>findmnt --verify --tab-file FILE</c> (util-linux 2.29+). Errors ([E]) are keyed by the mount
/// point they belong to, parse errors by the text of the offending line, so keys stay comparable when
/// lines move; warnings ([W]) are ignored.
/// </summary>
public sealed partial class FindmntFstabValidator(ICommandRunner? runner = null, ToolTimeouts? timeouts = null) : IFstabValidator
{
    private readonly ICommandRunner _runner = runner ?? CliCommandRunner.Instance;
    private readonly ToolTimeouts _timeouts = timeouts ?? ToolTimeouts.Default;

    public async Task<FstabVerification?> VerifyAsync(string path, CancellationToken cancellationToken = default)
    {
        if (!_runner.IsAvailable("findmnt")) return null;
        var result = await _runner.RunAsync("findmnt", ["--verify", "--tab-file", path], _timeouts.Query, null, cancellationToken)
            .ConfigureAwait(false);
        // 0 = clean, 1 = problems found; anything else (an old findmnt without --verify) means "cannot verify".
        if (result.ExitCode is not (0 or 1)) return null;
        if (result.ExitCode == 1 && UnknownOption().IsMatch(result.StandardError)) return null;
        return Parse(result.StandardOutput, result.StandardError, File.Exists(path) ? File.ReadAllBytes(path) : []);
    }

    /// <summary>Turns findmnt's report into error keys.</summary>
    public static FstabVerification Parse(string stdout, string stderr, byte[] fileContent)
    {
        var errors = new List<string>();
        var target = "";
        foreach (var line in stdout.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                target = line.TrimEnd();
                continue;
            }
            var trimmed = line.Trim();
            if (trimmed.StartsWith("[E]", StringComparison.Ordinal)) errors.Add($"{target}: {trimmed[3..].Trim()}");
        }

        var lines = FstabFile.Parse(fileContent).Lines;
        foreach (Match match in ParseErrorLine().Matches(stderr))
        {
            var number = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var text = number >= 1 && number <= lines.Count ? lines[number - 1].Text : $"line {number}";
            errors.Add($"parse error: {text}");
        }
        return new FstabVerification(errors);
    }

    [GeneratedRegex(@"parse error at line (\d+)")]
    private static partial Regex ParseErrorLine();

    [GeneratedRegex(@"unrecognized option|invalid option|unknown option")]
    private static partial Regex UnknownOption();
}
