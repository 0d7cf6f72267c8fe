using System.Globalization;
using IscsiUp.TestTarget.Cli;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Control;

/// <summary>
/// The LUNs a running target serves and the commands that change them: "add LUN SIZE", "remove LUN",
/// "resize LUN SIZE" (grow only) and "list". Added LUNs are plain volumes, in memory or as DIR/lunN.img files;
/// the storage given at start (the RAID-5 array) stays the caller's and cannot grow.
/// </summary>
public sealed class LunInventory : IDisposable
{
    /// <summary>Highest LUN number the flat addressing method carries (SAM-5).</summary>
    public const int MaxLun = 16383;

    private readonly IscsiTarget _target;
    private readonly string? _dir;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, IBlockStorage> _storage;
    private readonly HashSet<IBlockStorage> _owned = new(ReferenceEqualityComparer.Instance);

    /// <param name="owned">Storage in <paramref name="target"/>'s options this inventory disposes (the volumes it created).</param>
    public LunInventory(IscsiTarget target, string? dir, IEnumerable<IBlockStorage> owned)
    {
        _target = target;
        _dir = dir;
        _storage = target.Options.Luns.ToDictionary();
        foreach (IBlockStorage storage in owned) _owned.Add(storage);
    }

    /// <summary>A plain volume for <paramref name="lun"/>: in memory, or DIR/lunN.img (kept contents unless <paramref name="fresh"/>).</summary>
    public static IResizableStorage CreateVolume(string? dir, int lun, long capacity, bool fresh)
    {
        if (dir is null) return new MemoryVolume(capacity);
        string path = Path.Combine(dir, $"lun{lun}.img");
        if (fresh) File.Delete(path);
        return new FileVolume(path, capacity);
    }

    /// <summary>Runs one command line; the answer starts with "ok" or "error: ".</summary>
    public string Execute(string line)
    {
        string[] words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        try
        {
            return words switch
            {
                ["add", var lun, var size] => Add(Lun(lun), Size(size)),
                ["remove", var lun] => Remove(Lun(lun)),
                ["resize", var lun, var size] => Resize(Lun(lun), Size(size)),
                ["list"] => List(),
                _ => throw new ControlException($"unknown command \"{line.Trim()}\": expected add LUN SIZE, remove LUN, resize LUN SIZE or list"),
            };
        }
        catch (ControlException e)
        {
            return $"error: {e.Message}";
        }
    }

    public string Add(int lun, long size)
    {
        lock (_lock)
        {
            if (_storage.ContainsKey(lun)) throw new ControlException($"LUN {lun} exists");
            IResizableStorage volume;
            try
            {
                volume = CreateVolume(_dir, lun, size, fresh: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ControlException($"cannot create LUN {lun}: {e.Message}");
            }
            if (!_target.TryAddLun(lun, volume))
            {
                volume.Dispose();
                throw new ControlException($"LUN {lun} exists");
            }
            _storage[lun] = volume;
            _owned.Add(volume);
            return $"ok LUN {lun} added, {ByteSize.Format(size)}";
        }
    }

    public string Remove(int lun)
    {
        lock (_lock)
        {
            if (!_storage.TryGetValue(lun, out IBlockStorage? storage)) throw new ControlException($"there is no LUN {lun}");
            if (!_target.TryRemoveLun(lun)) throw new ControlException($"LUN {lun} is the last LUN; a target keeps at least one");
            _storage.Remove(lun);
            // Commands still running on it fail with a storage error; the caller's own storage stays open for it to flush.
            if (_owned.Remove(storage)) storage.Dispose();
            return $"ok LUN {lun} removed";
        }
    }

    public string Resize(int lun, long size)
    {
        lock (_lock)
        {
            if (!_storage.TryGetValue(lun, out IBlockStorage? storage)) throw new ControlException($"there is no LUN {lun}");
            if (storage is not IResizableStorage volume) throw new ControlException($"LUN {lun} is a RAID-5 array, which cannot grow; resize works on plain LUNs");
            long before = volume.Capacity;
            if (size < before) throw new ControlException($"LUN {lun} is {ByteSize.Format(before)}; shrinking to {ByteSize.Format(size)} is not supported");
            if (size == before) return $"ok LUN {lun} stays {ByteSize.Format(size)}";
            try
            {
                volume.Grow(size);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
            {
                throw new ControlException($"cannot grow LUN {lun}: {e.Message}");
            }
            _target.CapacityChanged(lun);
            return $"ok LUN {lun} resized to {ByteSize.Format(size)}";
        }
    }

    /// <summary>"ok 0:33554432 1:16777216": every LUN and its capacity in bytes.</summary>
    public string List()
    {
        lock (_lock)
            return "ok " + string.Join(' ', _storage.OrderBy(e => e.Key).Select(e => $"{e.Key}:{e.Value.Capacity.ToString(CultureInfo.InvariantCulture)}"));
    }

    private static int Lun(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int lun) && lun <= MaxLun
            ? lun
            : throw new ControlException($"invalid LUN \"{text}\": expected 0 to {MaxLun}");

    private static long Size(string text) =>
        ByteSize.TryParse(text, out long bytes) && bytes % 512 == 0
            ? bytes
            : throw new ControlException($"invalid size \"{text}\": expected a multiple of 512 bytes such as 64M");

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (IBlockStorage storage in _owned) storage.Dispose();
            _owned.Clear();
        }
    }
}
