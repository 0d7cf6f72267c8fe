using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Scsi;

/// <summary>How failed SCSI commands read for people.</summary>
public sealed class ScsiExceptionTests
{
    private static byte[] Fixed(byte code, byte key, byte asc, byte ascq)
    {
        var sense = new byte[18];
        sense[0] = code;
        sense[2] = key;
        sense[7] = 10; // additional sense length
        sense[12] = asc;
        sense[13] = ascq;
        return sense;
    }

    [Fact]
    public void Scsi_exception_explains_check_condition_with_its_sense()
    {
        var result = new ScsiResult(ScsiResult.CheckCondition, Fixed(0x70, SenseData.IllegalRequest, 0x21, 0x00), 0, false, false);
        var error = ScsiException.From("WRITE(16) on LUN 1", result);
        Assert.Equal("WRITE(16) on LUN 1 failed: ILLEGAL REQUEST: logical block address out of range", error.Message);
        Assert.Equal(ScsiResult.CheckCondition, error.Status);
        Assert.NotNull(error.Sense);
        Assert.Equal(SenseData.IllegalRequest, error.Sense.Value.SenseKey);
        Assert.Equal(0x21, error.Sense.Value.Asc);
    }

    [Theory]
    [InlineData(ScsiResult.CheckCondition, "CHECK CONDITION without sense data")]
    [InlineData(ScsiResult.Busy, "target busy")]
    [InlineData(ScsiResult.ReservationConflict, "reservation conflict")]
    [InlineData(ScsiResult.TaskSetFull, "task set full")]
    [InlineData((byte)0x30, "SCSI status 0x30")]
    public void Scsi_exception_explains_other_statuses(byte status, string text)
    {
        var error = ScsiException.From("READ(16)", new ScsiResult(status, null, 0, false, false));
        Assert.Contains(text, error.Message);
        Assert.Null(error.Sense);
    }
}
