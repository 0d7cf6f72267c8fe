namespace IscsiUp.TestTarget.Storage;

// File-backed arrays: one image per member (disk0.img, disk1.img, ...) plus raid5.conf, which
// records which image sits in which slot, the spares and the lost members.
public sealed partial class Raid5Array
{
    private readonly Lock _metadataLock = new();

    /// <summary>
    /// Opens the array kept in <paramref name="directory"/>, creating it (sparse images
    /// <c>disk0.img</c> ... and <c>raid5.conf</c>) when absent. Reopening keeps the data and the
    /// membership: a spare that replaced a failed member stays in its slot, a lost member stays
    /// lost (and is rebuilt if a spare is available). When fewer spares remain than requested,
    /// unused images (such as a replaced member's) are reused as fresh spares.
    /// </summary>
    /// <exception cref="InvalidOperationException">The existing array has a different shape.</exception>
    public static Raid5Array CreateOnFiles(string directory, int activeDisks, int spares, long diskSize, int chunkSize = DefaultChunkSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        CheckActiveCount(activeDisks, nameof(activeDisks));
        ArgumentOutOfRangeException.ThrowIfNegative(spares);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(diskSize);
        CheckChunkSize(chunkSize);

        Directory.CreateDirectory(directory);
        string metadataPath = Path.Combine(directory, Raid5Metadata.FileName);
        Raid5Metadata? existing = Raid5Metadata.Load(metadataPath);
        string[] activeNames;
        var spareNames = new List<string>(spares);
        IReadOnlyList<int> lost = [];
        if (existing is null)
        {
            activeNames = Enumerable.Range(0, activeDisks).Select(ImageName).ToArray();
        }
        else
        {
            if (existing.Active.Count != activeDisks || existing.ChunkSize != chunkSize || existing.DiskSize != diskSize)
            {
                throw new InvalidOperationException(
                    $"The array in '{directory}' has {existing.Active.Count} active disks of {existing.DiskSize} bytes " +
                    $"with {existing.ChunkSize}-byte chunks, not {activeDisks} of {diskSize} bytes with {chunkSize}-byte chunks.");
            }

            activeNames = existing.Active.ToArray();
            spareNames.AddRange(existing.Spares.Take(spares));
            lost = existing.LostSlots;
        }

        var used = new HashSet<string>(activeNames.Concat(spareNames), StringComparer.Ordinal);
        for (int k = 0; spareNames.Count < spares; k++)
        {
            if (used.Add(ImageName(k)))
            {
                spareNames.Add(ImageName(k));
            }
        }

        var disks = new List<IMemberDisk>(activeNames.Length + spareNames.Count);
        Raid5Array array;
        try
        {
            foreach (string name in activeNames.Concat(spareNames))
            {
                disks.Add(new FileDisk(Path.Combine(directory, name), diskSize));
            }

            array = new Raid5Array(disks.GetRange(0, activeDisks), disks.GetRange(activeDisks, spareNames.Count), chunkSize, [.. activeNames, .. spareNames]);
        }
        catch
        {
            disks.ForEach(d => d.Dispose());
            throw;
        }

        try
        {
            array._membershipChanged = () =>
            {
                try
                {
                    array.SaveMetadata(metadataPath, diskSize);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    array.RaiseLog($"could not record the membership in {metadataPath}: {ex.Message}");
                }
            };
            array.RestoreLostMembers(lost);
            array.SaveMetadata(metadataPath, diskSize);
        }
        catch
        {
            array.Dispose();
            throw;
        }

        return array;
    }

    private static string ImageName(int index) => $"disk{index}.img";

    private void SaveMetadata(string path, long diskSize)
    {
        lock (_metadataLock)
        {
            Raid5Metadata metadata;
            lock (_stateLock)
            {
                ArrayConfiguration config = _config;
                IEnumerable<Member> spares = _spares;
                if (config.Rebuild is { } rebuild)
                {
                    spares = spares.Prepend(rebuild.Target);
                }

                metadata = new Raid5Metadata(
                    _layout.ChunkSize,
                    diskSize,
                    config.Slots.Select(m => m.Name).ToArray(),
                    spares.Select(m => m.Name).ToArray(),
                    Enumerable.Range(0, _layout.ActiveDisks).Where(slot => (config.LostMask & (1UL << slot)) != 0).ToArray());
            }

            metadata.Save(path);
        }
    }

    /// <summary>Re-applies failures recorded before a restart: one lost member degrades (and rebuilds), two fail the array.</summary>
    private void RestoreLostMembers(IReadOnlyList<int> lostSlots)
    {
        if (lostSlots.Count == 1)
        {
            FailDisk(lostSlots[0]);
        }
        else if (lostSlots.Count > 1)
        {
            ulong mask = lostSlots.Aggregate(0UL, (acc, slot) => acc | (1UL << slot));
            lock (_stateLock)
            {
                _config = new ArrayConfiguration(_config.Slots, lostSlots[0], rebuild: null, mask);
            }

            RaiseLog($"RAID-5 array failed: {lostSlots.Count} of {_layout.ActiveDisks} members lost");
        }
    }
}
