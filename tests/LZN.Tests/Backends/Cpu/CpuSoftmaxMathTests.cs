using LZN.Native.Backends.Cpu;

namespace LZN.Tests.Backends.Cpu;

public class CpuSoftmaxMathTests
{
    /// <summary>The vector and scalar exp against Math.Exp over the softmax range: within 2 ulp, exact at 0, 0 below -87.3.</summary>
    [Test]
    public void ExpIsWithinTwoUlpOfDoubleExp()
    {
        const int count = 200_003;
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = -87f + 90f * i / (count - 1);
        values[17] = 0f;
        var expected = Array.ConvertAll(values, v => Math.Exp(v));
        var vector = (float[])values.Clone();
        float sum = CpuSoftmaxMath.ExpAndSum(vector, default, 0f);

        double worstVector = 0, worstScalar = 0;
        for (int i = 0; i < count; i++)
        {
            double ulp = (double)MathF.BitIncrement((float)expected[i]) - (float)expected[i];
            worstVector = Math.Max(worstVector, Math.Abs(vector[i] - expected[i]) / ulp);
            worstScalar = Math.Max(worstScalar, Math.Abs(CpuSoftmaxMath.Exp(values[i]) - expected[i]) / ulp);
        }
        using (Assert.EnterMultipleScope())
        {
            Assert.That(worstVector, Is.LessThanOrEqualTo(2.0), "vector exp, ulp");
            Assert.That(worstScalar, Is.LessThanOrEqualTo(2.0), "scalar exp, ulp");
            Assert.That(vector[17], Is.EqualTo(1f), "exp(0)");
            Assert.That(sum, Is.EqualTo(expected.Sum()).Within(1e-5).Percent, "sum");
            Assert.That(CpuSoftmaxMath.Exp(-88f), Is.Zero, "underflow");
        }
    }
}
