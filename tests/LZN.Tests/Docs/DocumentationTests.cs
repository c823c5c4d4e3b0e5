using System.Text.RegularExpressions;

namespace LZN.Tests.Docs;

/// <summary>
/// The documentation is self-contained: what a clone of the repository holds is all a reader needs. Comments and docs
/// once cited a design note outside the repository; the math is now docs/math.md, and nothing may cite the note again.
/// </summary>
public partial class DocumentationTests
{
    private static readonly string[] Roots = ["README.md", "docs", "kernels", "src", "tests", "tools", "bench", "build.ps1"];

    private static readonly string[] Extensions = [".md", ".cs", ".cu", ".cuh", ".cpp", ".h", ".sh", ".ps1", ".csproj", ".props"];

    /// <summary>The repository's root: the first folder above the test assembly that holds the solution.</summary>
    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "LZN.Native.sln")))
                return folder.FullName;
        }
        throw new InvalidOperationException($"no LZN.Native.sln above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<string> SourceFiles(string root)
    {
        foreach (string entry in Roots.Select(name => Path.Combine(root, name)))
        {
            if (File.Exists(entry))
            {
                yield return entry;
                continue;
            }
            if (!Directory.Exists(entry))
                continue;
            foreach (string file in Directory.EnumerateFiles(entry, "*", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(root, file);
                bool built = relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj");
                if (!built && Extensions.Contains(Path.GetExtension(file)))
                    yield return file;
            }
        }
    }

    [Test]
    public void NothingCitesTheDesignNoteOutsideTheRepository()
    {
        string root = RepositoryRoot();
        // Built from pieces so that this file does not cite it either.
        string note = "lzn-" + "math.md";
        var citing = SourceFiles(root).Where(file => File.ReadAllText(file).Contains(note, StringComparison.Ordinal))
            .Select(file => Path.GetRelativePath(root, file)).ToList();
        Assert.That(SourceFiles(root).Count(), Is.GreaterThan(100), "the scan sees the sources");
        Assert.That(citing, Is.Empty, $"cite docs/math.md instead of {note}");
    }

    [Test]
    public void EverySectionOfTheMathThatIsCitedExists()
    {
        string root = RepositoryRoot();
        var sections = SectionHeading().Matches(File.ReadAllText(Path.Combine(root, "docs", "math.md")))
            .Select(match => int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        Assert.That(sections, Is.SupersetOf(Enumerable.Range(1, 11)));
        foreach (string file in SourceFiles(root))
        {
            foreach (Match citation in Citation().Matches(File.ReadAllText(file)))
            {
                foreach (Match number in Number().Matches(citation.Groups[1].Value))
                {
                    Assert.That(sections, Does.Contain(int.Parse(number.Value, System.Globalization.CultureInfo.InvariantCulture)),
                        $"{Path.GetRelativePath(root, file)}: {citation.Value}");
                }
            }
        }
    }

    [GeneratedRegex(@"^## (\d+)\. ", RegexOptions.Multiline)]
    private static partial Regex SectionHeading();

    [GeneratedRegex(@"math\.md\)?`? sections? ([\d, -]+\d)")]
    private static partial Regex Citation();

    [GeneratedRegex(@"\d+")]
    private static partial Regex Number();
}
