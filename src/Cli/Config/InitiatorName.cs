using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace IscsiUp.Cli.Config;

/// <summary>
/// The initiator's iSCSI name: from -I, else /etc/iscsi-up/initiatorname.iscsi, else open-iscsi's
/// /etc/iscsi/initiatorname.iscsi, else a new one generated once and saved (like iscsi-iname).
/// </summary>
public static partial class InitiatorName
{
    // After the colon, anything but white space, commas and control characters: RFC 3720 allows fewer characters,
    // but names with capitals or underscores exist in the field; a space or a comma would break the output format.
    [GeneratedRegex(@"^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s,\p{Cc}]+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16}([0-9A-Fa-f]{16})?)$")]
    private static partial Regex ValidName();

    public static bool IsValid(string name) => name.Length <= 223 && ValidName().IsMatch(name);

    public static string Validate(string name, string what) =>
        IsValid(name) ? name : throw new UserError($"invalid {what} \"{name}\": expected iqn.YYYY-MM.reversed.domain[:identifier], eui.<16 hex> or naa.<hex>");

    public static string Resolve(string? explicitName)
    {
        if (!string.IsNullOrEmpty(explicitName)) return Validate(explicitName, "initiator name");
        foreach (var file in new[] { Paths.InitiatorNameFile, Paths.OpenIscsiInitiatorNameFile })
            if (ReadFile(file) is { } name) return Validate(name, $"initiator name in {file}");
        string generated = Generate();
        try
        {
            Paths.EnsurePrivateDirectory(Paths.ConfigDir);
            Save(generated);
        }
        catch (UnauthorizedAccessException) { /* not root: use it for this run only */ }
        return generated;
    }

    /// <summary>Writes the name file, root's alone (0600), as the packages' scriptlets create it.</summary>
    public static void Save(string name) =>
        SafeFiles.AtomicFile.Write(Paths.InitiatorNameFile, $"InitiatorName={name}\n", SafeFiles.AtomicFile.OwnerOnly);

    public static string? ReadFile(string path)
    {
        if (SmallFile.KindOf(path) is null) return null;
        foreach (var line in SmallFile.ReadText(path, "initiator name file").Split('\n'))
        {
            var text = line.Trim();
            if (text.StartsWith("InitiatorName=", StringComparison.Ordinal)) return text["InitiatorName=".Length..].Trim();
        }
        return null;
    }

    public static string Generate() => $"iqn.2026-11.org.iscsi-up:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
}
