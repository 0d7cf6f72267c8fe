using System.Globalization;
using System.Numerics;
using System.Text;

namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// Membership record of a file-backed array, kept next to the disk images as <c>raid5.conf</c>
/// (md keeps the same facts in each member's superblock). Without it, reopening an array whose
/// spare replaced a failed member would put the images back in the wrong slots. Plain
/// <c>key=value</c> lines; file names only, no paths.
/// </summary>
internal sealed record Raid5Metadata(
    int ChunkSize,
    long DiskSize,
    IReadOnlyList<string> Active,
    IReadOnlyList<string> Spares,
    IReadOnlyList<int> LostSlots)
{
    public const string FileName = "raid5.conf";

    /// <summary>Reads the record, or returns null when the file does not exist.</summary>
    public static Raid5Metadata? Load(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string rawLine in File.ReadAllLines(path))
        {
            string line = rawLine.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new InvalidDataException($"{path}: malformed line '{line}' (expected key=value).");
            }

            values[line[..equals].Trim()] = line[(equals + 1)..].Trim();
        }

        string Required(string key) =>
            values.TryGetValue(key, out string? value) ? value : throw new InvalidDataException($"{path}: missing '{key}'.");

        int chunkSize = ParseNumber<int>(path, "chunk-size", Required("chunk-size"));
        long diskSize = ParseNumber<long>(path, "disk-size", Required("disk-size"));
        string[] active = ParseNames(path, "active", Required("active"));
        string[] spares = ParseNames(path, "spares", values.GetValueOrDefault("spares", string.Empty));
        int[] lost = values.GetValueOrDefault("lost", string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(text => ParseNumber<int>(path, "lost", text))
            .ToArray();
        if (lost.Any(slot => slot < 0 || slot >= active.Length) || lost.Distinct().Count() != lost.Length)
        {
            throw new InvalidDataException($"{path}: 'lost' must list distinct slots below {active.Length}.");
        }

        if (active.Concat(spares).Distinct(StringComparer.Ordinal).Count() != active.Length + spares.Length)
        {
            throw new InvalidDataException($"{path}: a disk image is listed twice.");
        }

        return new Raid5Metadata(chunkSize, diskSize, active, spares, lost);
    }

    /// <summary>Writes the record atomically and durably (see <see cref="SafeFiles.AtomicFile"/>).</summary>
    public void Save(string path)
    {
        var text = new StringBuilder();
        text.AppendLine("# iscsi-up test target: RAID-5 (left-symmetric) membership. Written by the array.");
        text.AppendLine("level=5");
        text.AppendLine("layout=left-symmetric");
        text.AppendLine(CultureInfo.InvariantCulture, $"chunk-size={ChunkSize}");
        text.AppendLine(CultureInfo.InvariantCulture, $"disk-size={DiskSize}");
        text.AppendLine(CultureInfo.InvariantCulture, $"active={string.Join(',', Active)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"spares={string.Join(',', Spares)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"lost={string.Join(',', LostSlots)}");
        SafeFiles.AtomicFile.Write(path, text.ToString(), SafeFiles.AtomicFile.OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private static T ParseNumber<T>(string path, string key, string text)
        where T : IBinaryInteger<T>
    {
        bool mayBeZero = key == "lost";
        if (!T.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out T? value) || (!mayBeZero && value == T.Zero))
        {
            throw new InvalidDataException($"{path}: '{key}' has invalid value '{text}'.");
        }

        return value!;
    }

    private static string[] ParseNames(string path, string key, string text)
    {
        string[] names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string name in names)
        {
            if (name != Path.GetFileName(name) || name is "." or "..")
            {
                throw new InvalidDataException($"{path}: '{key}' must list file names, not paths ('{name}').");
            }
        }

        return names;
    }
}
