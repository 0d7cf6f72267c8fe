using System.Text;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// An fstab held as its lines, byte for byte. Edits touch only the lines they add, replace or remove;
/// everything else (comments, blank lines, spacing, tabs, CRLF, odd entries, a missing final newline)
/// is written back exactly as read.
/// </summary>
public sealed class FstabFile
{
    /// <summary>The options iscsi-up writes: mount with defaults, and wait for the network at boot.</summary>
    public const string DefaultOptions = "defaults,_netdev";

    private readonly List<FstabLine> _lines;

    private FstabFile(List<FstabLine> lines, string name)
    {
        _lines = lines;
        Name = name;
    }

    /// <summary>How the file is named in messages, normally its path.</summary>
    public string Name { get; }

    public IReadOnlyList<FstabLine> Lines => _lines;

    public IEnumerable<FstabEntry> Entries => _lines.Where(line => line.Entry is not null).Select(line => line.Entry!);

    public static FstabFile Parse(ReadOnlySpan<byte> content, string name = "fstab") => ParseBytes(FstabText.FromBytes(content), name);

    /// <summary>Parses text (encoded as UTF-8 on disk).</summary>
    public static FstabFile Parse(string text, string name = "fstab") => ParseBytes(FstabText.FromString(text), name);

    private static FstabFile ParseBytes(string bytes, string name)
    {
        var lines = new List<FstabLine>();
        var start = 0;
        while (start < bytes.Length)
        {
            var newline = bytes.IndexOf('\n', start);
            if (newline < 0)
            {
                lines.Add(FstabLine.Parse(bytes[start..], ""));
                break;
            }
            var crlf = newline > start && bytes[newline - 1] == '\r';
            var end = crlf ? newline - 1 : newline;
            lines.Add(FstabLine.Parse(bytes[start..end], crlf ? "\r\n" : "\n"));
            start = newline + 1;
        }
        return new FstabFile(lines, name);
    }

    public byte[] ToBytes() => FstabText.ToBytes(ToByteString());

    /// <summary>The whole file as text (UTF-8 decoded).</summary>
    public override string ToString() => FstabText.ToDisplay(ToByteString());

    /// <summary>The line iscsi-up writes: <c>UUID=&lt;uuid&gt; &lt;dir&gt; &lt;fstype&gt; &lt;options&gt; &lt;dump&gt; &lt;pass&gt;</c>, the directory octal-escaped.</summary>
    public static string FormatLine(string uuid, string directory, string fsType, string options = DefaultOptions, int dump = 0, int pass = 0)
    {
        var dir = FstabPaths.FromDirectoryArgument(directory);
        return FstabText.ToDisplay(FormatLineBytes(uuid, dir, fsType, options, dump, pass));
    }

    /// <summary>
    /// Makes sure <paramref name="directory"/> mounts the filesystem <paramref name="uuid"/>.
    /// The exact UUID/directory pair already present is no change. Another source on the directory, or
    /// the UUID on another directory, is a conflict: an error, or with <paramref name="replace"/> the
    /// first such line is replaced in place and the others removed. With <paramref name="replace"/> an
    /// existing line for the pair whose type, options or numbers differ is rewritten too.
    /// </summary>
    /// <exception cref="FstabConflictException">a conflicting line exists and <paramref name="replace"/> is false.</exception>
    public FstabEditResult AddMount(
        string uuid, string directory, string fsType, string options = DefaultOptions, int dump = 0, int pass = 0, bool replace = false)
    {
        ValidateField(uuid, "filesystem UUID");
        ValidateField(fsType, "filesystem type");
        ValidateField(options, "mount options");
        if (uuid.Contains('"') || uuid.Contains('\'')) throw new MountManagerException($"invalid filesystem UUID '{uuid}' for fstab");
        ArgumentOutOfRangeException.ThrowIfNegative(dump);
        ArgumentOutOfRangeException.ThrowIfNegative(pass);
        var dir = FstabPaths.FromDirectoryArgument(directory);
        var newLine = FormatLineBytes(uuid, dir, fsType, options, dump, pass);

        var (exact, conflicts) = Classify(uuid, dir);
        if (conflicts.Count > 0 && !replace) throw Conflict(conflicts[0], uuid, dir);

        if (exact.Count > 0 && conflicts.Count == 0 &&
            (!replace || (exact.Count == 1 && _lines[exact[0]].Entry!.Matches(fsType, options, dump, pass))))
        {
            return new FstabEditResult(FstabChange.AlreadyPresent, exact[0] + 1, _lines[exact[0]].Text, []);
        }

        if (exact.Count == 0 && conflicts.Count == 0)
        {
            // A file without a final newline keeps having none: our line takes the last place without one,
            // so removing it again restores the original bytes.
            var terminator = PreferredTerminator();
            bool unterminated = _lines.Count > 0 && _lines[^1].Terminator.Length == 0;
            if (unterminated) _lines[^1] = _lines[^1].WithTerminator(terminator);
            _lines.Add(FstabLine.Parse(newLine, unterminated ? "" : terminator));
            return new FstabEditResult(FstabChange.Added, _lines.Count, FstabText.ToDisplay(newLine), []);
        }

        // Replace: the first matching line becomes ours, in place; any other match goes away.
        var matches = exact.Concat(conflicts).Order().ToList();
        var removed = matches.Select(i => _lines[i].Text).ToList();
        var first = matches[0];
        _lines[first] = FstabLine.Parse(newLine, _lines[first].Terminator);
        for (var k = matches.Count - 1; k >= 1; k--) RemoveLineAt(matches[k]);
        return new FstabEditResult(FstabChange.Replaced, first + 1, FstabText.ToDisplay(newLine), removed);
    }

    /// <summary>
    /// Throws the conflict <see cref="AddMount"/> would throw without <c>replace</c>. With a null
    /// <paramref name="uuid"/> (a filesystem not created yet) only the directory is checked.
    /// </summary>
    /// <exception cref="FstabConflictException">another source is mounted on the directory, or the UUID elsewhere.</exception>
    public void EnsureNoConflict(string? uuid, string directory)
    {
        var dir = FstabPaths.FromDirectoryArgument(directory);
        var (_, conflicts) = Classify(uuid, dir);
        if (conflicts.Count > 0) throw Conflict(conflicts[0], uuid, dir);
    }

    /// <summary>
    /// Removes the line(s) mounting <paramref name="uuid"/> on <paramref name="directory"/>. Without a
    /// UUID, removes only <c>UUID=</c> lines on the directory that carry <c>_netdev</c> (the lines
    /// iscsi-up writes); other entries for the directory are never touched.
    /// </summary>
    public FstabEditResult RemoveMount(string directory, string? uuid = null)
    {
        var dir = FstabPaths.FromDirectoryArgument(directory);
        var matches = new List<int>();
        for (var i = 0; i < _lines.Count; i++)
        {
            if (_lines[i].Entry is not { } entry || !entry.HasTarget(dir)) continue;
            var ours = uuid is not null
                ? entry.Source.IsUuid(uuid)
                : entry.Source.Tag == "UUID" && entry.OptionList.Contains("_netdev", StringComparer.Ordinal);
            if (ours) matches.Add(i);
        }
        if (matches.Count == 0) return new FstabEditResult(FstabChange.NotFound, 0, null, []);

        var removed = matches.Select(i => _lines[i].Text).ToList();
        for (var k = matches.Count - 1; k >= 0; k--) RemoveLineAt(matches[k]);
        return new FstabEditResult(FstabChange.Removed, matches[0] + 1, removed[0], removed);
    }

    /// <summary>The entries that mount something on <paramref name="directory"/>.</summary>
    public IReadOnlyList<FstabEntry> FindByTarget(string directory)
    {
        var dir = FstabPaths.FromDirectoryArgument(directory);
        return Entries.Where(entry => entry.HasTarget(dir)).ToList();
    }

    /// <summary>The entries whose source names the filesystem <paramref name="uuid"/>.</summary>
    public IReadOnlyList<FstabEntry> FindByUuid(string uuid) => Entries.Where(entry => entry.Source.IsUuid(uuid)).ToList();

    /// <summary>Lines naming both the UUID and the directory, and lines naming only one of them.</summary>
    private (List<int> Exact, List<int> Conflicts) Classify(string? uuid, string dirBytes)
    {
        var exact = new List<int>();
        var conflicts = new List<int>();
        for (var i = 0; i < _lines.Count; i++)
        {
            if (_lines[i].Entry is not { } entry) continue;
            var sameDir = entry.HasTarget(dirBytes);
            var sameUuid = uuid is not null && entry.Source.IsUuid(uuid);
            if (sameDir && sameUuid) exact.Add(i);
            else if (sameDir || sameUuid) conflicts.Add(i);
        }
        return (exact, conflicts);
    }

    private FstabConflictException Conflict(int index, string? uuid, string dirBytes)
    {
        var entry = _lines[index].Entry!;
        var dir = FstabText.ToDisplay(dirBytes);
        var message = entry.HasTarget(dirBytes)
            ? $"{Name} line {index + 1} already mounts {entry.Source.Raw} on {dir}{(uuid is null ? "" : $" (wanted UUID={uuid})")}; pass --replace to replace that line"
            : $"{Name} line {index + 1} already mounts UUID={uuid} on {entry.Target} (wanted {dir}); pass --replace to replace that line";
        return new FstabConflictException(message, index + 1, _lines[index].Text);
    }

    /// <summary>Removes a line; when it was the last one and had no newline, the line before loses its newline too.</summary>
    private void RemoveLineAt(int index)
    {
        bool lastWithoutNewline = index == _lines.Count - 1 && _lines[index].Terminator.Length == 0;
        _lines.RemoveAt(index);
        if (lastWithoutNewline && index > 0) _lines[index - 1] = _lines[index - 1].WithTerminator("");
    }

    private string ToByteString()
    {
        var builder = new StringBuilder();
        foreach (var line in _lines) builder.Append(line.TextBytes).Append(line.Terminator);
        return builder.ToString();
    }

    /// <summary>New lines follow the file's own convention: CRLF only if most lines already use it.</summary>
    private string PreferredTerminator()
    {
        var crlf = _lines.Count(line => line.Terminator == "\r\n");
        var lf = _lines.Count(line => line.Terminator == "\n");
        return crlf > lf ? "\r\n" : "\n";
    }

    private static string FormatLineBytes(string uuid, string dirBytes, string fsType, string options, int dump, int pass) =>
        $"UUID={FstabText.FromString(uuid)} {FstabEscaping.Encode(dirBytes)} {FstabText.FromString(fsType)} {FstabText.FromString(options)} {dump} {pass}";

    private static void ValidateField(string value, string what)
    {
        if (string.IsNullOrEmpty(value) || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '#'))
            throw new MountManagerException($"invalid {what} '{value}' for fstab");
    }
}
