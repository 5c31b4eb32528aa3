"""The "Install dependencies" action: pip (see provider/dependencies.py) in a QGIS background
task, every line of its output in the 'airmap' log tab, progress in the message bar."""
import os
import shutil
import subprocess

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask

from . import dependencies as deps

LOG_TAG = "airmap"


def profile_dir():
    return QgsApplication.qgisSettingsDirPath()


def log(message, level=Qgis.MessageLevel.Info):
    QgsMessageLog.logMessage(message, LOG_TAG, level)


class PipInstallTask(QgsTask):
    """Installs the ``missing`` import names of package set ``kind`` into the profile's folder."""

    def __init__(self, kind, missing, python, target):
        packages = ", ".join(deps.PACKAGE_SETS[kind][0][m][0] for m in missing)
        flags = QgsTask.Flag.CanCancel
        silent = getattr(QgsTask.Flag, "Silent", None)   # QGIS >= 3.26: the plugin's message bar says how it ended
        if silent is not None:
            flags |= silent
        super().__init__(f"airmap: installing {packages}", flags)
        self.kind, self.missing, self.python, self.target = kind, missing, python, target
        self.error = ""

    def _swap_in(self, fresh):
        """Replace the target by ``fresh``; a target Windows keeps locked is renamed aside."""
        if os.path.isdir(self.target):
            try:
                shutil.rmtree(self.target)
            except OSError:
                os.replace(self.target, f"{self.target}.old-{os.getpid()}")
        os.replace(fresh, self.target)

    def _files(self):
        """The requirement and constraint files of this run, next to the target folder."""
        folder = os.path.dirname(self.target)
        os.makedirs(folder, exist_ok=True)
        requirements = deps.requirements_for(self.kind, self.missing)
        constraints = deps.constraints_for(self.kind)
        paths = []
        for name, lines in (("requirements", requirements), ("constraints", constraints)):
            path = os.path.join(folder, f"{self.kind}-{name}.txt")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            paths.append(path)
        return paths

    def run(self):
        try:
            requirements, constraints = self._files()
            # A fresh folder swapped in on success: a failed run leaves the old one intact, and
            # no stale package metadata of an earlier run stays beside the new one.
            fresh = self.target + ".new"
            shutil.rmtree(fresh, ignore_errors=True)
            command = deps.pip_command(self.python, fresh, requirements, constraints, kind=self.kind)
            log("Running: " + " ".join(f'"{c}"' if " " in c else c for c in command))
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    encoding="utf-8", errors="replace", env=deps.pip_environment(),
                                    **deps.subprocess_flags())
            steps, last = 0, ""
            for line in proc.stdout:
                line = line.rstrip()
                if not line:
                    continue
                log(line, Qgis.MessageLevel.Warning if line.startswith(("ERROR", "WARNING")) else Qgis.MessageLevel.Info)
                # the reason shown to the user: pip's last ERROR line, else its last line
                last = line if line.startswith("ERROR") or not last.startswith("ERROR") else last
                if line.startswith(("Collecting", "Downloading", "Using cached", "Processing")):
                    steps += 1
                    self.setProgress(min(90.0, 2.0 * steps))
                elif line.startswith("Installing collected packages"):
                    self.setProgress(95.0)
                if self.isCanceled():
                    proc.terminate()
                    self.error = "Cancelled."
                    return False
            code = proc.wait()
            if code != 0:
                self.error = f"pip failed (exit code {code}): {last}"
                return False
            self._swap_in(fresh)
            return True
        except Exception as exc:  # shown to the user in finished(); a task must not raise
            self.error = f"{type(exc).__name__}: {exc}"
            return False
