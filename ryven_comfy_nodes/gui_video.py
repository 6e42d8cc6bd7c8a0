"""A video player for the viewer (QtMultimedia): play/pause, a scrub slider, looping."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QUrl
from qtpy.QtWidgets import QHBoxLayout, QPushButton, QSlider, QVBoxLayout, QWidget


class VideoPlayer(QWidget):
    """Plays one local file; starts at once and loops."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.video = QVideoWidget()
        lay.addWidget(self.video, 1)
        row = QHBoxLayout()
        self.play_button = QPushButton("Pause")
        self.play_button.clicked.connect(self.toggle)
        row.addWidget(self.play_button)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.sliderMoved.connect(lambda ms: self.player.setPosition(ms))
        row.addWidget(self.slider, 1)
        lay.addLayout(row)
        self.player = QMediaPlayer(self)
        self.player.setVideoOutput(self.video)
        self.player.setLoops(QMediaPlayer.Infinite)
        self.player.durationChanged.connect(lambda d: self.slider.setRange(0, int(d)))
        self.player.positionChanged.connect(self._moved)
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self.player.play()

    def _moved(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(int(ms))

    def toggle(self) -> None:
        """Play or pause."""
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player.playbackState() == QMediaPlayer.PlayingState:
            self.player.pause()
            self.play_button.setText("Play")
        else:
            self.player.play()
            self.play_button.setText("Pause")

    def stop(self) -> None:
        self.player.stop()

    def closeEvent(self, event: Any) -> None:
        self.stop()
        super().closeEvent(event)
