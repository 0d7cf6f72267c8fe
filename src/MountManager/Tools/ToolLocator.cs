namespace IscsiUp.MountManager.Tools;

/// <summary>
/// Finds administration tools by name. Searches PATH and then the sbin directories, because
/// mkfs, blkid and friends live in /usr/sbin, which is often missing from a non-root PATH.
/// </summary>
public static class ToolLocator
{
    private static readonly string[] SystemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    public static string? Find(string tool)
    {
        if (tool.Contains('/')) return File.Exists(tool) ? tool : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SystemDirectories))
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
