using System.Text.RegularExpressions;

namespace IscsiUp.Cli.Tests.Support;

/// <summary>Files of the repository the tests check the program against (README, packaging), and --help's option list.</summary>
public static partial class Repository
{
    public static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Initiator.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "cannot find the repository root above the test binaries");
        return dir.FullName;
    }

    /// <summary>The options a command's --help lists, as (short name or null, long name), without --help itself.</summary>
    public static IEnumerable<(string? Short, string Long)> HelpOptions(string help) =>
        HelpOption().Matches(help)
            .Select(m => (m.Groups["short"].Success ? m.Groups["short"].Value : null, m.Groups["long"].Value))
            .Where(o => o.Item2 != "--help");

    [GeneratedRegex(@"(?m)^\s+(?:(?<short>-\w), )?(?<long>--[a-z][a-z-]*)")]
    private static partial Regex HelpOption();
}
