using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class Raid5ArrayFileTests
{
    private const int Chunk = 16 * 1024;
    private const long DiskSize = 1024 * 1024;

    [Fact]
    public async Task Data_persists_across_reopen()
    {
        using var dir = new TempDirectory();
        byte[] model;
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk))
        {
            Assert.Equal(2 * DiskSize, array.Capacity);
            model = StorageTestData.RandomBytes((int)array.Capacity, seed: 20);
            await array.WriteAsync(0, model);
            byte[] patch = StorageTestData.RandomBytes(3 * Chunk, seed: 21);
            await array.WriteAsync((5 * Chunk) + 1024, patch);
            patch.CopyTo(model, (5 * Chunk) + 1024);
            await array.FlushAsync();
        }

        foreach (string name in new[] { "disk0.img", "disk1.img", "disk2.img", "disk3.img" })
        {
            Assert.Equal(DiskSize, new FileInfo(Path.Combine(dir.Path, name)).Length);
        }

        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk))
        {
            Assert.Equal(RaidState.Clean, array.State);
            Assert.Equal(1, array.SpareCount);
            Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
            Assert.True(array.CheckParity().IsClean);
        }
    }

    [Fact]
    public async Task Reopening_after_a_rebuild_keeps_the_spare_in_the_failed_members_slot()
    {
        using var dir = new TempDirectory();
        byte[] model;
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk))
        {
            model = StorageTestData.RandomBytes((int)array.Capacity, seed: 22);
            await array.WriteAsync(0, model);
            array.FailDisk(1);
            await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");
            Assert.Equal(RaidState.Clean, array.State);

            byte[] patch = StorageTestData.RandomBytes(2 * Chunk, seed: 23);
            await array.WriteAsync(Chunk, patch);
            patch.CopyTo(model, Chunk);
        }

        string conf = File.ReadAllText(Path.Combine(dir.Path, "raid5.conf"));
        Assert.Contains("active=disk0.img,disk3.img,disk2.img", conf);

        // The stale disk1.img must not come back as member 1; it is reused as the requested spare.
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk))
        {
            Assert.Equal(RaidState.Clean, array.State);
            Assert.Equal(1, array.SpareCount);
            Assert.True(array.CheckParity().IsClean);
            Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        }
    }

    [Fact]
    public async Task The_rebuild_completes_only_after_the_new_membership_is_on_disk()
    {
        using var dir = new TempDirectory();
        using var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk);
        // The rebuild's thread announces the end after the array is clean again and before it saves the
        // membership; holding it there opens the window a busy machine once opened by itself.
        var finished = new ManualResetEventSlim();
        array.Log += line =>
        {
            if (!line.Contains("finished")) return;
            finished.Set();
            Thread.Sleep(300);
        };

        array.FailDisk(1);
        Assert.True(finished.Wait(TimeSpan.FromSeconds(30)), "the rebuild did not finish");
        Assert.Equal(RaidState.Clean, array.State);
        await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");

        Assert.Contains("active=disk0.img,disk3.img,disk2.img", File.ReadAllText(Path.Combine(dir.Path, "raid5.conf")));
    }

    [Fact]
    public async Task Reopening_a_degraded_array_stays_degraded_and_reconstructs()
    {
        using var dir = new TempDirectory();
        byte[] model;
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 0, DiskSize, Chunk))
        {
            model = StorageTestData.RandomBytes((int)array.Capacity, seed: 24);
            await array.WriteAsync(0, model);
            array.FailDisk(0);
            byte[] patch = StorageTestData.RandomBytes(Chunk, seed: 25);
            await array.WriteAsync(6 * Chunk, patch); // stripe 3: its data chunk on the lost disk 0
            patch.CopyTo(model, 6 * Chunk);
        }

        // Scribble over the lost member: a reopened array must not trust it.
        await File.WriteAllBytesAsync(Path.Combine(dir.Path, "disk0.img"), new byte[DiskSize]);

        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 0, DiskSize, Chunk))
        {
            Assert.Equal(RaidState.Degraded, array.State);
            Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        }

        // Reopening with a spare resumes recovery onto it.
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk))
        {
            await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");
            Assert.Equal(RaidState.Clean, array.State);
            Assert.True(array.CheckParity().IsClean);
            Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        }
    }

    [Fact]
    public void Reopening_with_a_different_shape_is_refused()
    {
        using var dir = new TempDirectory();
        Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, Chunk).Dispose();
        var ex = Assert.Throws<InvalidOperationException>(() => Raid5Array.CreateOnFiles(dir.Path, 3, 1, DiskSize, 2 * Chunk));
        Assert.Contains("chunks", ex.Message);
        Assert.Throws<InvalidOperationException>(() => Raid5Array.CreateOnFiles(dir.Path, 4, 1, DiskSize, Chunk));
    }

    [Fact]
    public void A_failed_array_stays_failed_after_reopen()
    {
        using var dir = new TempDirectory();
        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 0, DiskSize, Chunk))
        {
            array.FailDisk(0);
            array.FailDisk(2);
        }

        using (var array = Raid5Array.CreateOnFiles(dir.Path, 3, 0, DiskSize, Chunk))
        {
            Assert.Equal(RaidState.Failed, array.State);
            Assert.Throws<RaidFailedException>(() => array.CheckParity());
        }
    }
}
