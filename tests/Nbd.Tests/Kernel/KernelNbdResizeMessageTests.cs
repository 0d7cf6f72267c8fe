using IscsiUp.Nbd.Kernel;
using Xunit;

namespace IscsiUp.Nbd.Tests.Kernel;

/// <summary>
/// The RECONFIGURE request that resizes a connected kernel device, byte for byte as nbd-netlink.h lays it out
/// (this container has no /dev/nbd: the kernel side is proven in the kernel lab).
/// </summary>
public sealed class KernelNbdResizeMessageTests
{
    [Fact]
    public void Resize_is_a_reconfigure_naming_the_device_its_backend_and_the_new_size()
    {
        byte[] message = KernelNbdDevice.ResizeMessage(family: 0x1c, sequence: 7, index: 3, backendId: "ab", sizeBytes: 0x1_0000_0000).ToArray();

        byte[] expected =
        [
            48, 0, 0, 0,        // nlmsghdr: length 48
            0x1c, 0,            //   type: the nbd family
            0x05, 0,            //   flags: REQUEST | ACK
            7, 0, 0, 0,         //   sequence
            0, 0, 0, 0,         //   port id
            3, 1, 0, 0,         // genlmsghdr: NBD_CMD_RECONFIGURE, version 1
            8, 0, 1, 0, 3, 0, 0, 0,                       // NBD_ATTR_INDEX = 3
            7, 0, 10, 0, (byte)'a', (byte)'b', 0, 0,      // NBD_ATTR_BACKEND_IDENTIFIER = "ab\0" (padded)
            12, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0,          // NBD_ATTR_SIZE_BYTES = 4 GiB
        ];
        Assert.Equal(expected, message);
    }
}
